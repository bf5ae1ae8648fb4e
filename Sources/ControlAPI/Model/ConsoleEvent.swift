// ConsoleEvent.swift: what a console subscription delivers, and how it is cancelled.

/// One step of a followed console.
public enum ConsoleEvent: Equatable, Sendable {
  /// Bytes the guest wrote (the first event carries the requested tail).
  case output([UInt8])
  /// The VM finished in this state; nothing follows.
  case ended(VMState)
}

/// A live console subscription; the API layer cancels it when its client goes away.
public protocol ConsoleSubscription: Sendable {
  /// Stops delivery; once this returns the handler is not called again.
  func cancel()
}
