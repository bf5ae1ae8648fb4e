// SliceClockTests.swift: what a worker charges a slice: its wall time when short (no system call), never less than
// the CPU time it used, and not the time the host took the thread away.
import Foundation
import Testing

@testable import DenaliCore

@Suite("Slice clock")
struct SliceClockTests {
  /// Burns about `nanoseconds` of this thread's CPU time; returns what it used.
  func burnCPU(_ nanoseconds: UInt64) -> UInt64 {
    let start = threadCPUNanoseconds()
    var spin: UInt64 = 0
    while threadCPUNanoseconds() &- start < nanoseconds { spin &+= 1 }
    return threadCPUNanoseconds() &- start
  }

  @Test("a short slice is charged its wall time; at least every sixteenth reads the CPU clock")
  func shortSlices() {
    var clock = SliceClock()
    clock.sliceStarts()
    for _ in 1..<SliceClock.readEvery { #expect(clock.charge(wall: 50_000, waited: 0) == 50_000) }
    // The sixteenth reads the CPU clock: the CPU time since the start, less than the 16 × 50 µs of wall time here
    // (this test used far less CPU than that).
    #expect(clock.charge(wall: 50_000, waited: 0) <= 50_000)
    #expect(clock.charge(wall: 50_000, waited: 20_000) == 30_000, "device waits are charged apart")
  }

  @Test("a slice the thread spent mostly off the CPU is charged about its CPU time, not its wall time")
  func offCPUSliceNotCharged() {
    var clock = SliceClock()
    clock.sliceStarts()
    let start = monotonicNanoseconds()
    Thread.sleep(forTimeInterval: 0.02)  // as if the host took the thread away mid-slice
    let wall = monotonicNanoseconds() &- start
    let charged = clock.charge(wall: wall, waited: 0)
    #expect(wall >= 20_000_000)
    #expect(charged < wall / 2, "charged \(charged) ns of a \(wall) ns slice spent asleep")
  }

  @Test("a busy slice is never charged less than the CPU time it used, even after short slices")
  func neverLessThanCPU() {
    var clock = SliceClock()
    clock.sliceStarts()
    for _ in 0..<5 { _ = clock.charge(wall: 10_000, waited: 0) }
    let start = monotonicNanoseconds()
    let used = burnCPU(3_000_000)
    let charged = clock.charge(wall: monotonicNanoseconds() &- start, waited: 0)
    #expect(charged >= used, "charged \(charged) ns for \(used) ns of CPU")
  }
}
