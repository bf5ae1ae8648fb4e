// Clocks.swift: the clocks the VM layer reads (monotonic, wall, thread CPU) and Duration in nanoseconds.
import Glibc

/// CLOCK_MONOTONIC in nanoseconds.
public func monotonicNanoseconds() -> UInt64 {
  var time = timespec()
  clock_gettime(CLOCK_MONOTONIC, &time)
  return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// CLOCK_REALTIME in nanoseconds since the Unix epoch.
func wallClockNanoseconds() -> UInt64 {
  var time = timespec()
  clock_gettime(CLOCK_REALTIME, &time)
  return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// CPU time the calling thread has used, in nanoseconds.
func threadCPUNanoseconds() -> UInt64 {
  var time = timespec()
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
  return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// Whole nanoseconds in `duration`: 0 for negative durations, UInt64.max when it does not fit.
public func nanoseconds(_ duration: Duration) -> UInt64 {
  let (seconds, attoseconds) = duration.components
  guard seconds >= 0 else { return 0 }
  let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
  let (total, carry) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
  return overflow || carry ? .max : total
}
