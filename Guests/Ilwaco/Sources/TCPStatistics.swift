// TCPStatistics.swift: the counters of a TCP stack.

/// Counters of one `TCPStack` (all since it was created).
public struct TCPStatistics {
  /// Segments taken in with a good checksum.
  public var segmentsReceived: UInt64 = 0
  /// Segments handed to the NIC (or held for ARP).
  public var segmentsSent: UInt64 = 0
  /// Segments dropped as malformed or with a bad checksum.
  public var segmentsMalformed: UInt64 = 0
  /// Segments sent again after a timeout or three duplicate ACKs.
  public var retransmissions: UInt64 = 0
  /// Fast retransmissions (three duplicate ACKs).
  public var fastRetransmissions: UInt64 = 0
  /// Retransmission timeouts.
  public var timeouts: UInt64 = 0
  /// Retransmission timeouts of a segment already sent again after a timeout (its ACKs lost twice running).
  public var repeatedTimeouts: UInt64 = 0
  /// Segments that arrived ahead of a gap and were queued.
  public var outOfOrderSegments: UInt64 = 0
  /// Resets sent (closed ports, refused or aborted connections, bad ACKs to a listener).
  public var resetsSent: UInt64 = 0
  /// Resets accepted (the connection, or a half-open one, ended).
  public var resetsReceived: UInt64 = 0
  /// Challenge ACKs sent (RFC 5961: a RST or SYN in the window that was not exactly expected).
  public var challengeAcks: UInt64 = 0
  /// Passive opens completed (handed to a listener).
  public var connectionsAccepted: UInt64 = 0
  /// Active opens started.
  public var connectionsStarted: UInt64 = 0
  /// Opens refused for want of room (`maximumConnections`): active opens at once, passive ones after waiting in
  /// the backlog for all their SYN-ACK retries.
  public var connectionsRefused: UInt64 = 0
  /// Passive opens whose handshake completed while the table was full, and waited for room (the backlog).
  public var connectionsQueued: UInt64 = 0
  /// Half-open connections dropped to make room for a newer SYN (a flood, or a full table).
  public var halfOpenDropped: UInt64 = 0
  /// TIME-WAIT connections reclaimed early for a new one.
  public var timeWaitReclaimed: UInt64 = 0
  /// TIME-WAIT connections a new SYN from the same peer port reopened.
  public var timeWaitReopened: UInt64 = 0
  /// Sends refused because the NIC's transmit queue was full (retried after `busyRetryNanoseconds`).
  public var sendsBusy: UInt64 = 0
  /// Zero-window probes sent.
  public var windowProbes: UInt64 = 0
}

extension Console {
  /// Writes the counters as `segments in N out N, retransmitted N (fast N, timeouts N, repeated N), out of order N, resets
  /// sent N received N, half-open dropped N, refused N, accepted N, busy sends N, window probes N, challenge ACKs N, TIME-WAIT reopened N`.
  public static func print(_ statistics: TCPStatistics) {
    print("segments in " as StaticString)
    print(statistics.segmentsReceived)
    print(" out " as StaticString)
    print(statistics.segmentsSent)
    print(", retransmitted " as StaticString)
    print(statistics.retransmissions)
    print(" (fast " as StaticString)
    print(statistics.fastRetransmissions)
    print(", timeouts " as StaticString)
    print(statistics.timeouts)
    print(", repeated " as StaticString)
    print(statistics.repeatedTimeouts)
    print("), out of order " as StaticString)
    print(statistics.outOfOrderSegments)
    print(", resets sent " as StaticString)
    print(statistics.resetsSent)
    print(" received " as StaticString)
    print(statistics.resetsReceived)
    print(", half-open dropped " as StaticString)
    print(statistics.halfOpenDropped)
    print(", refused " as StaticString)
    print(statistics.connectionsRefused)
    print(", accepted " as StaticString)
    print(statistics.connectionsAccepted)
    print(", queued " as StaticString)
    print(statistics.connectionsQueued)
    print(", busy sends " as StaticString)
    print(statistics.sendsBusy)
    print(", window probes " as StaticString)
    print(statistics.windowProbes)
    print(", challenge ACKs " as StaticString)
    print(statistics.challengeAcks)
    print(", TIME-WAIT reopened " as StaticString)
    print(statistics.timeWaitReopened)
  }
}
