// yield-loop N: performs N DENALI_HC_IDLE hypercalls with timeout 0 (yields; N decimal, default 1000) and
// exits 0, printing nothing (the VM-switch benchmark: `kvm-baseline switch` runs two of these in turns).
import Ilwaco

@main
struct YieldLoop: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let count = arguments.unsignedInteger(at: 0, default: 1000) else {
      Console.print("usage: yield-loop [N] (decimal, default 1000)\n")
      return 2
    }
    // One request for every call: the host only writes `ret` and `pending`, so `timeout_ns` stays 0 and
    // the loop is one OUT, a decrement and a branch.
    var request = denali_hc_idle(ret: 0, timeout_ns: 0, pending: 0)
    var remaining = count
    while remaining != 0 {
      ilwaco_hypercall(DENALI_HC_IDLE, &request)
      remaining &-= 1
    }
    return 0
  }
}
