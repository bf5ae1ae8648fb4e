// cpu-pattern spin-us=N [idle-ns=N] [yield=1] [nops=N]: a guest that wants the CPU in a given pattern, for
// fairness tests: forever, it spins for N µs (on the time-stamp counter), makes `nops` nop hypercalls, then
// yields (`yield=1`) or idles for `idle-ns` nanoseconds (when given). It never exits on its own (stop it with
// --timeout). Games the idle reward with spin-us=2000 idle-ns=1: a VM that spins and naps for 1 ns.
import Ilwaco

@main
struct CPUPattern: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let spinMicroseconds = arguments.unsignedOption("spin-us", default: 1000), spinMicroseconds <= 10_000_000,
      let idleNanoseconds = arguments.unsignedOption("idle-ns", default: 0),
      let yields = arguments.unsignedOption("yield", default: 0), yields <= 1,
      let nops = arguments.unsignedOption("nops", default: 0), nops <= 1_000_000
    else {
      Console.print("usage: cpu-pattern spin-us=N [idle-ns=N] [yield=1] [nops=N]\n")
      return 2
    }
    let idles = arguments.option("idle-ns") != nil
    // Without a known TSC rate, count 1 GHz.
    let hertz = VirtualRegisters.tscFrequencyHertz == 0 ? 1_000_000_000 : VirtualRegisters.tscFrequencyHertz
    let spinTicks = CPU.divide(spinMicroseconds &* hertz, by: 1_000_000)
    while true {
      let start = CPU.timeStampCounter()
      while CPU.timeStampCounter() &- start < spinTicks {}
      var remaining = nops
      while remaining != 0 {
        _ = Hypercall.nop()
        remaining &-= 1
      }
      if yields == 1 {
        _ = yield()
      } else if idles {
        _ = idle(timeoutNanoseconds: idleNanoseconds)
      }
    }
  }
}
