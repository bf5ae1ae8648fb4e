// SliceClock.swift: what a worker charges a slice for the CPU it used, without a system call for every slice.

/// One worker's measure of its slices' CPU time.
///
/// The thread's CPU clock is not in the vDSO: each read is a system call (about 0.5 µs on our nested hosts), where
/// `CLOCK_MONOTONIC` costs 25 ns, and 10,000 idle VMs waking once a second are 10,000 slices a second. So a short
/// slice (wall time at most `shortSlice`) is charged its wall time, which can only be more than its CPU time, never
/// less; every `readEvery`-th slice, and every slice longer than that, reads the CPU clock and is charged the lesser
/// of its wall time and the CPU time since the previous read. Both bounds hold this slice's CPU time, so no slice is
/// ever charged less than it used; a slice the host took the thread away from is charged at most the CPU of the few
/// short slices before it more (at most `readEvery` × `shortSlice`), not the time it was away.
struct SliceClock {
  /// Slices at most this long in wall time are charged their wall time, nanoseconds.
  static let shortSlice: UInt64 = 100_000
  /// At most this many slices in a row are charged without reading the CPU clock.
  static let readEvery = 16

  /// The thread's CPU clock at its last read (nil: not read yet).
  private var lastRead: UInt64?
  /// Slices charged their wall time since that read.
  private var estimated = 0

  /// Called as a slice starts: reads the CPU clock once, before the worker's first slice, so that even that slice
  /// has a CPU time to be charged by.
  mutating func sliceStarts() {
    if lastRead == nil { lastRead = threadCPUNanoseconds() }
  }

  /// The CPU time to charge a slice that lasted `wall` nanoseconds, of which `waited` were spent waiting for a
  /// device (charged apart).
  mutating func charge(wall: UInt64, waited: UInt64) -> UInt64 {
    let running = wall > waited ? wall - waited : 0
    if running <= Self.shortSlice, estimated < Self.readEvery - 1 {
      estimated += 1
      return running
    }
    let now = threadCPUNanoseconds()
    defer {
      lastRead = now
      estimated = 0
    }
    return lastRead.map { min(running, now &- $0) } ?? running
  }
}
