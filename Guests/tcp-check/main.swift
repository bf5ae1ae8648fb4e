// tcp-check: runs Ilwaco's TCP self-checks (sequence numbers across the wrap, the out-of-order queue, the rings,
// checksums, segment parsing, the RTO estimator, SipHash); prints `tcp-check: ok` and exits 0, or
// `tcp-check: FAILED: what` and exits 1. Needs no NIC.
import Ilwaco

@main
struct TCPCheck: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    if let failure = TCPSelfCheck.run() {
      Console.print("tcp-check: FAILED: ")
      Console.print(failure)
      Console.print("\n")
      return 1
    }
    Console.print("tcp-check: ok\n")
    return 0
  }
}
