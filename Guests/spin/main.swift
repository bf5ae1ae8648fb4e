// spin: a CPU-bound guest that never yields or exits (used for timeouts and, later, fairness).
import Ilwaco

@main
struct Spin: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    Console.print("spinning\n")
    let cell = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    var counter: UInt64 = 0
    while true {
      counter &+= 1
      // An opaque store each round keeps the compiler from collapsing the loop.
      CPU.store(counter, at: UInt64(UInt(bitPattern: cell)))
    }
  }
}
