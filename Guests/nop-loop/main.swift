// nop-loop: performs N DENALI_HC_NOP hypercalls (N decimal, default 1000) and exits 0, printing nothing
// (the hypercall round-trip benchmark: the cost of N hypercalls minus that of 0).
import Ilwaco

@main
struct NopLoop: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let count = arguments.unsignedInteger(at: 0, default: 1000) else {
      Console.print("usage: nop-loop [N] (decimal, default 1000)\n")
      return 2
    }
    var remaining = count
    while remaining != 0 {
      ilwaco_hc_nop()  // one OUT; the loop adds a decrement and a branch
      remaining &-= 1
    }
    return 0
  }
}
