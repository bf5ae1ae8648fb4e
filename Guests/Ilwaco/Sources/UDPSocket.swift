// UDPSocket.swift: a bound UDP port: a handler for datagrams that arrive, and sending from that port.

/// One received UDP datagram. `payload` points into the stack's receive buffer: it is valid only until
/// the handler returns.
public struct Datagram {
  /// The sender's address.
  public let source: IPv4Address
  /// The sender's port.
  public let sourcePort: UInt16
  /// The payload.
  public let payload: UnsafeRawBufferPointer
}

/// What became of a send.
public enum SendResult: Equatable {
  /// Handed to the NIC.
  case sent
  /// Held until ARP resolves the next hop (one datagram is held; a newer one replaces it).
  case resolving
  /// The NIC's transmit queue is full: send again later (after a `yield()`).
  case busy
  /// Not sent: no route (destination off the subnet and no gateway), too large, or the NIC refused it.
  case failed
}

/// A UDP port bound on a `NetworkStack`. Datagrams for it call its handler from `NetworkStack.poll()`.
public final class UDPSocket {
  /// The local port.
  public let port: UInt16
  /// Whether sends carry a UDP checksum (optional in IPv4; costs guest instructions per byte).
  public var checksumOnSend = true
  /// Runs for every datagram to this port (from `NetworkStack.poll()`); may be replaced at any time.
  public var handler: (Datagram) -> Void
  let stack: NetworkStack

  init(stack: NetworkStack, port: UInt16, handler: @escaping (Datagram) -> Void) {
    self.stack = stack
    self.port = port
    self.handler = handler
  }

  /// Sends `payload` (at most 1472 bytes) to `destination`:`destinationPort` from this socket's port.
  @discardableResult
  public func send(to destination: IPv4Address, port destinationPort: UInt16, payload: UnsafeRawBufferPointer)
    -> SendResult
  {
    stack.sendUDP(
      from: port, to: destination, port: destinationPort, payload: payload, checksum: checksumOnSend)
  }
}
