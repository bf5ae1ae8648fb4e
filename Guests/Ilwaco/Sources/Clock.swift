// Clock.swift: the guest's clocks, read from the virtual registers.

/// Time as the host last told it: both clocks are refreshed on every entry into the guest (after every
/// hypercall), so they stand still while the guest computes without exits.
public enum Clock {
  /// Nanoseconds since the VM was created (never goes backwards).
  public static var monotonicNanoseconds: UInt64 { ilwaco_vregs_monotonic_ns() }

  /// Nanoseconds since the Unix epoch (UTC); may jump if the host's clock is set.
  public static var wallClockNanoseconds: UInt64 { ilwaco_vregs_wallclock_ns() }
}
