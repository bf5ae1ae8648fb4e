// TimerEntry.swift: one deadline in the scheduler's timer heap: an idle timeout or a VM's run timeout.

/// A deadline in the scheduler's min-heap, ordered by time then by insertion.
struct TimerEntry: Comparable {
  /// What happens at the deadline.
  enum Kind {
    /// Wake a VM from the idle with this generation.
    case wake(ScheduledVM, generation: UInt64)
    /// The VM's `--timeout` passed.
    case timeout(ScheduledVM)
  }

  /// CLOCK_MONOTONIC nanoseconds.
  let deadline: UInt64
  /// Insertion order, to keep equal deadlines first-in first-out.
  let sequence: UInt64
  let kind: Kind

  static func < (a: TimerEntry, b: TimerEntry) -> Bool {
    (a.deadline, a.sequence) < (b.deadline, b.sequence)
  }

  static func == (a: TimerEntry, b: TimerEntry) -> Bool {
    a.deadline == b.deadline && a.sequence == b.sequence
  }
}
