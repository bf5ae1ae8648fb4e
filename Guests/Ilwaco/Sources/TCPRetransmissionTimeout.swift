// TCPRetransmissionTimeout.swift: the retransmission timeout of a connection from its round-trip samples, with
// exponential backoff (RFC 6298), in nanoseconds.

/// SRTT, RTTVAR and RTO of one connection.
struct TCPRetransmissionTimeout {
  /// RTO before any sample (RFC 6298 2.1: one second).
  static let initial: UInt64 = 1_000_000_000
  /// Upper bound of the RTO, backoff included (RFC 6298 2.5 allows 60 s or more).
  static let maximum: UInt64 = 60_000_000_000
  /// Clock granularity G: timers are kept to the millisecond.
  static let granularity: UInt64 = 1_000_000

  /// The lower bound (RFC 6298 2.4 says 1 s; Linux and this stack use less: the configuration's).
  let minimum: UInt64
  /// Smoothed round-trip time (0: no sample yet).
  private(set) var smoothed: UInt64 = 0
  /// Round-trip time variation.
  private(set) var variation: UInt64 = 0
  /// The current timeout, backoff included.
  private(set) var current: UInt64 = initial

  /// An estimator with no samples and the given lower bound.
  init(minimum: UInt64) { self.minimum = minimum }

  /// Takes one round-trip sample (RFC 6298 2.2-2.3; never from a retransmitted segment, Karn's rule) and
  /// recomputes the timeout, which also ends any backoff.
  mutating func sample(_ rtt: UInt64) {
    let sample = max(rtt, 1)
    if smoothed == 0 {
      smoothed = sample
      variation = sample / 2
    } else {
      let difference = smoothed > sample ? smoothed - sample : sample - smoothed
      variation = variation - variation / 4 + difference / 4
      smoothed = smoothed - smoothed / 8 + sample / 8
    }
    current = Self.clamped(smoothed &+ max(Self.granularity, variation &* 4), minimum: minimum)
  }

  /// Doubles the timeout after it expired (RFC 6298 5.5), up to `maximum`.
  mutating func backOff() {
    current = min(current &* 2, Self.maximum)
  }

  /// Sets the timeout to `value` (bounded) without a sample.
  mutating func restart(at value: UInt64) {
    current = Self.clamped(value, minimum: minimum)
  }

  private static func clamped(_ value: UInt64, minimum: UInt64) -> UInt64 {
    min(max(value, minimum), maximum)
  }
}

extension TCPRetransmissionTimeout {
  /// After a SYN had to be sent again and no sample exists: RTO = 3 s until the first sample (RFC 6298 5.7).
  mutating func restartAfterSynTimeout() {
    if smoothed == 0 { restart(at: 3_000_000_000) }
  }
}
