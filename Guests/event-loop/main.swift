// event-loop: exercises Ilwaco's EventLoop: a repeating 1 ms timer, a cancelled timer, a zero-delay timer,
// a timer-interrupt handler, and a 20 ms timer that stops the loop. Prints `event-loop: ok, ...` and exits 0,
// or `event-loop: FAILED: ...` and exits 1.
import Ilwaco

@main
struct EventLoopCheck: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    let loop = EventLoop()
    var ticks = 0
    var timerInterrupts = 0
    var immediate = false
    var cancelledFired = false
    yield()  // refresh the clock
    let start = Clock.monotonicNanoseconds
    loop.schedule(afterMilliseconds: 1, repeating: true) { ticks += 1 }
    loop.schedule(afterNanoseconds: 0) { immediate = true }
    // The canceller is scheduled first: its deadline then comes before the doomed timer's even if the VM is
    // preempted between the two calls (the clock moves at every entry), so only the loop's order is checked.
    var doomed: EventLoop.Timer?
    loop.schedule(afterMilliseconds: 2) {
      if let doomed { _ = loop.cancel(doomed) }
    }
    doomed = loop.schedule(afterMilliseconds: 5) { cancelledFired = true }
    loop.schedule(afterMilliseconds: 20) { loop.stop() }
    loop.onInterrupt(Interrupt.timer) { _ in timerInterrupts += 1 }
    loop.run()
    let elapsed = Clock.monotonicNanoseconds - start
    guard immediate else { return fail("the zero-delay timer did not fire") }
    guard !cancelledFired else { return fail("a cancelled timer fired") }
    guard elapsed >= 20_000_000 else { return fail("the loop stopped before its 20 ms timer") }
    // Fewer ticks when the VM is starved by others: a repeating timer does not fire in a burst to catch up.
    guard ticks >= 1, ticks <= 20 else { return fail("the 1 ms timer did not fire 1-20 times in 20 ms") }
    guard timerInterrupts > 0 else { return fail("no timer interrupt was delivered") }
    guard loop.timerCount == 1 else { return fail("one-shot timers were not removed") }  // the repeating one
    Console.print("event-loop: ok, ")
    Console.print(ticks)
    Console.print(" ticks of 1 ms and ")
    Console.print(timerInterrupts)
    Console.print(" timer interrupts in ")
    Console.print(elapsed / 1000)
    Console.print(" us\n")
    return 0
  }

  /// Prints why the check failed and returns exit status 1.
  static func fail(_ reason: StaticString) -> Int32 {
    Console.print("event-loop: FAILED: ")
    Console.print(reason)
    Console.print("\n")
    return 1
  }
}
