// clock: prints the virtual registers' clocks and identity, then checks that the monotonic clock advances
// across a 1 ms sleep (exit 0 if it does, 1 if not or if the host provides no virtual registers).
import Ilwaco

@main
struct ClockGuest: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard VirtualRegisters.isPresent else {
      Console.print("clock: no virtual registers (bad magic or ABI version)\n")
      return 1
    }
    let before = Clock.monotonicNanoseconds
    Console.print("clock: monotonic ")
    Console.print(before)
    Console.print(" ns, wall ")
    Console.print(Clock.wallClockNanoseconds)
    Console.print(" ns, tsc ")
    Console.print(VirtualRegisters.tscFrequencyHertz)
    Console.print(" Hz, vm ")
    Console.print(VirtualRegisters.vmID)
    Console.print(", memory ")
    Console.print(VirtualRegisters.memorySize)
    Console.print("\n")
    // A bounded version of sleep(milliseconds: 1), so a clock that never moves fails instead of hanging.
    let deadline = before + 1_000_000
    var idles = 0
    while Clock.monotonicNanoseconds < deadline && idles < 10_000 {
      idle(timeoutNanoseconds: deadline - Clock.monotonicNanoseconds)
      idles += 1
    }
    let after = Clock.monotonicNanoseconds
    guard after > before, after >= deadline else {
      Console.print("clock: FAILED: monotonic did not advance across a 1 ms sleep (")
      Console.print(before)
      Console.print(" -> ")
      Console.print(after)
      Console.print(" ns)\n")
      return 1
    }
    guard VirtualRegisters.memorySize == UInt64(memorySize) else {
      Console.print("clock: FAILED: virtual registers' memory size differs from the boot information's\n")
      return 1
    }
    return 0
  }
}
