// fault: performs the CPU fault named by its first argument, so the host's fault handling can be tested.
import Ilwaco

@main
struct Fault: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let kind = arguments.first else { return usage() }
    switch kind {
    case "ud":  // #UD (vector 6)
      CPU.undefinedInstruction()
    case "privileged":  // wrmsr to a nonexistent MSR: #GP (vector 13)
      CPU.writeMSR(0xdead_beef, 0)
    case "write-outside":  // 16 MiB past the end of memory is not mapped: #PF (vector 14)
      CPU.store(0x5a, at: UInt64(memorySize) + (16 << 20))
    case "triple":  // with an empty IDT, #UD cannot be delivered: #GP, then #DF, then a triple fault (shutdown)
      CPU.loadIDT(base: 0, limit: 0)
      CPU.undefinedInstruction()
    case "divide":  // div by zero: #DE (vector 0)
      _ = CPU.divide(1, by: zeroDivisor)
    case "null":  // page 0 is not mapped: #PF (vector 14) with CR2 = 0
      CPU.store(0x5a, at: 0)
    case "breakpoint":  // int3; KVM's emulator cannot emulate INT n in long mode: the host sees an internal error
      CPU.breakpoint()
    case "halt":  // hlt with interrupts off: the host sees a halt exit
      CPU.halt()
    default:
      return usage()
    }
    Console.print("fault: the fault did not happen\n")
    return 1
  }

  /// A divisor the optimizer cannot see is zero.
  nonisolated(unsafe) static var zeroDivisor: UInt64 = 0

  /// Prints the accepted kinds and returns exit status 2.
  static func usage() -> Int32 {
    Console.print("usage: fault ud|privileged|write-outside|triple|divide|null|breakpoint|halt\n")
    return 2
  }
}
