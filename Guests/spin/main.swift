// spin: a CPU-bound guest that never yields or exits (used for timeouts and, later, fairness).
import Ilwaco

@main
struct Spin: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    Console.print("spinning\n")
    var counter: UInt64 = 0
    while true {
      counter &+= 1
      // Keep the loop from being optimised away.
      if counter == 0 { return 1 }
    }
  }
}
