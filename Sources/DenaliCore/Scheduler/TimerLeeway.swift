// TimerLeeway.swift: how late a timer may fire, in proportion to how long it was set for (Denali's batched timer
// interrupts, and the timer coalescing of desktop kernels).

/// How late the scheduler may fire a VM's idle timer so that one wake-up of its timer thread serves every timer due
/// by then: a sixty-fourth of the time the VM asked to sleep, at most `maximum`. A 1 ms sleep may end 16 µs late,
/// a 100 ms one 1.6 ms late, and sleeps of half a second or more up to 8 ms late; with 10,000 VMs each waking once a
/// second, the timer thread then wakes about 125 times a second instead of once per deadline. Run timeouts get none.
enum TimerLeeway {
  /// The most any timer fires late by design, nanoseconds.
  static let maximum: UInt64 = 8_000_000

  /// The leeway of a timer set `duration` nanoseconds ahead.
  static func forDuration(_ duration: UInt64) -> UInt64 { min(duration >> 6, maximum) }
}
