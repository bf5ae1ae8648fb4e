// TCPState.swift: the states of a TCP connection (RFC 9293 section 3.3.2).

/// Where a connection is in its life. Listening is a `TCPListener`; half-open passive connections
/// (SYN-RECEIVED after a SYN to a listener) live in the listener's bounded table until their handshake completes.
public enum TCPState: Equatable {
  /// No connection (never opened, or gone).
  case closed
  /// Active open: our SYN is out, waiting for the peer's SYN.
  case synSent
  /// Both SYNs seen, waiting for the ACK of ours (simultaneous open).
  case synReceived
  /// Open in both directions.
  case established
  /// We closed our side; our FIN is not yet acknowledged.
  case finWait1
  /// We closed our side and it was acknowledged; the peer may still send.
  case finWait2
  /// The peer closed its side; we may still send.
  case closeWait
  /// Both closed at the same time; waiting for the ACK of our FIN.
  case closing
  /// The peer closed first, then we did; waiting for the ACK of our FIN.
  case lastAck
  /// Both sides closed; waiting so that a lost final ACK can be sent again.
  case timeWait

  /// Whether both SYNs have been exchanged (RFC 9293's synchronized states).
  var isSynchronized: Bool {
    switch self {
    case .closed, .synSent, .synReceived: false
    default: true
    }
  }

  /// Whether data may still arrive from the peer (its FIN has not).
  var receivesData: Bool {
    switch self {
    case .established, .finWait1, .finWait2: true
    default: false
    }
  }
}
