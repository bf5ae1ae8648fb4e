// Idle.swift: giving up the CPU with the idle hypercall (the guest's only way to wait).

/// Timeouts at or above this (`DENALI_IDLE_FOREVER`, about 292 years) mean "wait for an interrupt only".
public let idleForever: UInt64 = DENALI_IDLE_FOREVER

/// Gives up the CPU until `timeoutNanoseconds` pass or a virtual interrupt is pending, and returns the
/// pending mask the host delivered (`Interrupt` bits; delivering clears them, so act on them now).
/// A timeout of 0 only yields; one of at least `idleForever` waits for an interrupt alone.
@discardableResult
public func idle(timeoutNanoseconds: UInt64) -> UInt64 {
  var pending: UInt64 = 0
  _ = ilwaco_hc_idle(timeoutNanoseconds, &pending)
  return pending
}

/// Lets the host run something else, returns at once, and returns whatever interrupts were pending.
/// It also refreshes the virtual registers (and so `Clock`).
@discardableResult
public func yield() -> UInt64 {
  idle(timeoutNanoseconds: 0)
}
