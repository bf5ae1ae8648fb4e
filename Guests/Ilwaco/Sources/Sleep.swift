// Sleep.swift: waiting for the virtual monotonic clock with idle (no busy loop).

/// Idles until `Clock.monotonicNanoseconds` reaches `deadline`, and returns the clock's value at wake-up
/// (at least `deadline`). Interrupts delivered meanwhile are dropped: use `EventLoop` to handle them.
@discardableResult
public func sleep(untilMonotonicNanoseconds deadline: UInt64) -> UInt64 {
  var now = Clock.monotonicNanoseconds
  while now < deadline {
    idle(timeoutNanoseconds: deadline - now)
    now = Clock.monotonicNanoseconds
  }
  return now
}

/// Idles for at least `nanoseconds`, counted from the clock's last refresh (the last hypercall; call
/// `yield()` first if the guest has computed for long since), and returns the clock at wake-up.
@discardableResult
public func sleep(nanoseconds: UInt64) -> UInt64 {
  let (deadline, overflow) = Clock.monotonicNanoseconds.addingReportingOverflow(nanoseconds)
  return sleep(untilMonotonicNanoseconds: overflow ? .max : deadline)
}

/// Idles for at least `milliseconds` ms (see `sleep(nanoseconds:)`), and returns the clock at wake-up.
@discardableResult
public func sleep(milliseconds: UInt64) -> UInt64 {
  let (nanoseconds, overflow) = milliseconds.multipliedReportingOverflow(by: 1_000_000)
  return sleep(nanoseconds: overflow ? .max : nanoseconds)
}
