// pong [count=N]: answers ICMP echo requests (ping) at this VM's address. Prints `pong: answering ping at IP`,
// then runs until N requests are answered (forever without count), prints `pong: answered N`, exits 0.
// No NIC: `pong: no network`, exits 3; a malformed count: usage, exits 2.
import Ilwaco

@main
struct Pong: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let count = arguments.unsignedOption("count", default: 0) else {
      Console.print("usage: pong [count=N]\n")
      return 2
    }
    guard let stack = NetworkStack() else {
      Console.print("pong: no network\n")
      return 3
    }
    Console.print("pong: answering ping at ")
    Console.print(stack.address)
    Console.print("\n")
    let loop = EventLoop()
    stack.attach(to: loop)
    loop.onInterrupt(Interrupt.networkReceive) { _ in
      if count > 0 && stack.statistics.echoRepliesSent >= count { loop.stop() }
    }
    if count == 0 || stack.statistics.echoRepliesSent < count { loop.run() }
    Console.print("pong: answered ")
    Console.print(stack.statistics.echoRepliesSent)
    Console.print("\n")
    return 0
  }
}
