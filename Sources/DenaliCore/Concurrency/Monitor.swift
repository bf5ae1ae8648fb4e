// Monitor.swift: state guarded by a pthread mutex, with named condition variables for threads to wait on.

/// What a waiting step of `Monitor.withLock(waiting:)` decided.
public enum MonitorStep<Result, Condition> {
  /// Done: `withLock(waiting:)` returns this.
  case done(Result)
  /// Wait on `condition` until signalled or CLOCK_MONOTONIC reaches `deadline` (nil: none), then step again.
  case wait(Condition, until: UInt64?)
}

/// A value reachable only with its mutex held, and condition variables named by `Condition` (one per case)
/// to wait on for it to change. Waiting happens between two accesses to the state, never inside one, so no
/// access sees the state change under it.
public final class Monitor<State, Condition: CaseIterable & RawRepresentable>: @unchecked Sendable
where Condition.RawValue == Int {
  private let lock: MonotonicCondition
  // SAFETY: read and written only with `lock` held, in `withLock` and the steps of `withLock(waiting:)`.
  private var storage: (state: State, separator: UInt8)

  /// `initial`, guarded by a new mutex with one condition variable per `Condition` case.
  public init(_ initial: State) {
    storage = (initial, 0)
    lock = MonotonicCondition(conditions: Condition.allCases.count)
  }

  /// Runs `body` on the state with the mutex held.
  public func withLock<R, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
    try lock.withLock { () throws(E) -> R in try body(&storage.state) }
  }

  /// Runs `step` on the state with the mutex held until it is `.done`; after each `.wait` the thread waits on
  /// that condition (the mutex released meanwhile) and steps again. Spurious wake-ups only cost a step.
  public func withLock<R, E: Error>(waiting step: (inout State) throws(E) -> MonitorStep<R, Condition>) throws(E) -> R {
    try lock.withLock { () throws(E) -> R in
      while true {
        switch try step(&storage.state) {
        case .done(let result): return result
        case .wait(let condition, let deadline): lock.wait(condition.rawValue, untilMonotonicNanoseconds: deadline)
        }
      }
    }
  }

  /// Wakes one thread waiting on `condition` (with the mutex held or not).
  public func signal(_ condition: Condition) { lock.signal(condition.rawValue) }

  /// Wakes every thread waiting on `condition` (with the mutex held or not).
  public func broadcast(_ condition: Condition) { lock.broadcast(condition.rawValue) }
}
