// TCPEvent.swift: what a connection tells its handler, and why a connection ended.

/// An event on a `TCPConnection`, delivered to its `handler`.
public enum TCPEvent: Equatable {
  /// An active open completed: the connection is established.
  case connected
  /// New bytes can be read, or the peer closed its side (`isReadClosed` once everything is read). Edge-triggered:
  /// it is not repeated for bytes left unread.
  case readable
  /// Room in the send buffer again after a `write` that took less than offered.
  case writable
  /// The connection is gone; no further events come.
  case closed(TCPCloseReason)
}

/// Why a connection ended.
public enum TCPCloseReason: Equatable {
  /// Both sides closed and every byte was acknowledged.
  case finished
  /// The peer reset it.
  case reset
  /// An active open was refused (the peer answered the SYN with a reset).
  case refused
  /// The peer stopped acknowledging (too many retransmissions), or never answered the SYN.
  case timedOut
}
