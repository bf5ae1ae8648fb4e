// TimerEntry.swift: one deadline in the scheduler's timer heap: an idle timeout or a VM's run timeout, and how
// late it may fire so that one wake-up of the timer thread serves many.

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
  /// How long after `deadline` the timer may fire (`TimerLeeway`), nanoseconds.
  let leeway: UInt64
  /// Insertion order, to keep equal deadlines first-in first-out.
  let sequence: UInt64
  let kind: Kind

  /// The latest the timer should fire.
  var latest: UInt64 { deadline.addingReportingOverflow(leeway).overflow ? .max : deadline &+ leeway }

  static func < (a: TimerEntry, b: TimerEntry) -> Bool {
    (a.deadline, a.sequence) < (b.deadline, b.sequence)
  }

  static func == (a: TimerEntry, b: TimerEntry) -> Bool {
    a.deadline == b.deadline && a.sequence == b.sequence
  }
}
