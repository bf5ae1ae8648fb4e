// TCPConfiguration.swift: the bounds and timers of a TCP stack: every resource a peer can make it hold is capped here.

/// Limits and durations of a `TCPStack`. Guest memory used by TCP is at most about
/// `maximumConnections * (sendBufferSize + receiveBufferSize + 400)` plus `maximumHalfOpen * 48` bytes.
public struct TCPConfiguration {
  /// Connections at once, in any state from SYN-SENT or ESTABLISHED to TIME-WAIT (the oldest TIME-WAIT
  /// one is reclaimed when a new connection needs room). Each holds its two buffers until it is done. Passive
  /// opens whose handshake completes while all are in use wait in the half-open table (the listen backlog).
  public var maximumConnections = 16
  /// Half-open passive connections (SYN received, our SYN-ACK out, no ACK yet) and handshakes waiting in the
  /// backlog; when full, the oldest is dropped for a new SYN, so a SYN flood costs no more memory than this.
  public var maximumHalfOpen = 32
  /// Bytes of each connection's send buffer (a power of two, 1 KiB to 64 KiB).
  public var sendBufferSize = 8192
  /// Bytes of each connection's receive buffer (a power of two, 1 KiB to 64 KiB); the window we offer.
  public var receiveBufferSize = 8192
  /// How long a connection stays in TIME-WAIT (RFC 9293's 2 MSL is minutes; guests want it short). `.max`: no
  /// timer at all; the connection stays in TIME-WAIT until its slot is needed (the oldest is reclaimed first), so
  /// a server whose connections have all ended sets no timer (a swapped-out VM is then woken only by a packet).
  public var timeWaitNanoseconds: UInt64 = 1_000_000_000
  /// How long a TIME-WAIT connection takes a new SYN from the same peer port only when its sequence number is
  /// beyond the old connection's (RFC 9293 3.6.1); after that any new SYN reopens it. Without this, a connection
  /// kept in TIME-WAIT with no timer would refuse for ever a peer that reuses its port once its sequence clock has
  /// moved on by more than 2^31 (Linux's: after 137 s): our ACK gets a reset, which TIME-WAIT ignores (RFC 1337).
  public var timeWaitQuietNanoseconds: UInt64 = 1_000_000_000
  /// How long a connection the application closed may wait in FIN-WAIT-2 for the peer's FIN.
  public var finWait2Nanoseconds: UInt64 = 30_000_000_000
  /// Lower bound of the retransmission timeout (RFC 6298 says 1 s; Linux uses 200 ms).
  public var minimumRetransmissionNanoseconds: UInt64 = 200_000_000
  /// Retransmissions of one segment before the connection is given up as timed out.
  public var maximumRetransmissions = 8
  /// Retransmissions of a SYN or SYN-ACK before the open is given up.
  public var maximumSynRetransmissions = 4
  /// Wait before sending again after the NIC's transmit queue was full.
  public var busyRetryNanoseconds: UInt64 = 100_000
  /// Challenge ACKs (RFC 5961) sent per second at most, over all connections.
  public var challengeAcksPerSecond = 10

  /// The defaults above.
  public init() {}

  /// Whether every value is in range (`TCPStack` refuses a configuration that is not).
  public var isValid: Bool {
    Self.isBufferSize(sendBufferSize) && Self.isBufferSize(receiveBufferSize) && maximumConnections >= 1
      && maximumConnections <= 4096 && maximumHalfOpen >= 1 && maximumHalfOpen <= 4096
      && minimumRetransmissionNanoseconds >= 1_000_000 && maximumRetransmissions >= 1
      && maximumSynRetransmissions >= 1 && busyRetryNanoseconds >= 1
  }

  private static func isBufferSize(_ size: Int) -> Bool {
    size >= 1024 && size <= 65536 && size & (size - 1) == 0
  }
}
