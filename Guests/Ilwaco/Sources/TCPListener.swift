// TCPListener.swift: a passive open: a local port that takes connections and hands each to the application.

/// A listening port on a `TCPStack`. Every connection whose handshake completes on it is passed to `accept`
/// (established; set its `handler` there). Close it to stop taking new connections (established ones stay).
public final class TCPListener {
  /// The local port.
  public let port: UInt16
  /// Called with every newly established connection.
  public var accept: (TCPConnection) -> Void
  unowned(unsafe) let stack: TCPStack
  /// Whether it still takes connections.
  public private(set) var isOpen = true

  init(stack: TCPStack, port: UInt16, accept: @escaping (TCPConnection) -> Void) {
    self.stack = stack
    self.port = port
    self.accept = accept
  }

  /// Stops listening: new SYNs to the port get a reset; half-open connections are dropped when they complete.
  public func close() {
    guard isOpen else { return }
    isOpen = false
    stack.removeListener(self)
  }
}
