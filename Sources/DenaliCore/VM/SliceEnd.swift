// SliceEnd.swift: why one slice of a VM's run ended.

/// Why `GuestVM.runSlice()` returned.
public enum SliceEnd: Equatable, Sendable {
  /// The VM is over.
  case finished(VMOutcome)
  /// The VM idles until this CLOCK_MONOTONIC deadline in nanoseconds (nil: until an interrupt).
  case idle(until: UInt64?)
  /// The VM yielded (idle with timeout 0); it is still runnable.
  case yielded
  /// The VM was kicked out of the guest (its quantum ended); it is still runnable.
  case preempted
}
