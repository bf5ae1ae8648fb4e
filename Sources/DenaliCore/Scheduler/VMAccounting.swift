// VMAccounting.swift: what the scheduler measured about one VM: CPU time, exits, scheduling, wake-up lateness.

/// Per-VM accounting kept by the scheduler.
public struct VMAccounting: Sendable, Equatable {
  /// CPU time the VM's slices used on worker threads (guest execution and exit handling), nanoseconds.
  public var cpuNanoseconds: UInt64 = 0
  /// Of that, wall time inside KVM_RUN: the guest's own work, its exits included, nanoseconds.
  public var guestNanoseconds: UInt64 = 0
  /// Slices the VM was given.
  public var timesScheduled: UInt64 = 0
  /// Slices that ended because the quantum expired.
  public var preemptions: UInt64 = 0
  /// Exits from KVM_RUN by kind.
  public var exits = ExitCounters()
  /// Hypercalls made.
  public var hypercalls: UInt64 = 0
  /// Idle hypercalls made.
  public var idles: UInt64 = 0
  /// Wake-ups from an idle timeout.
  public var timerWakeups: UInt64 = 0
  /// The NIC's traffic and drops when the VM finished; nil without a NIC.
  public var network: NetworkCounters?
  /// Sum and maximum of the delay between a timer deadline and the VM running again, nanoseconds.
  public var wakeLatenessTotal: UInt64 = 0, wakeLatenessMax: UInt64 = 0
  /// Swap-outs committed.
  public var swapOuts: UInt64 = 0
  /// Swap-ins (restores from the swap file; the first load from the image is not one).
  public var swapIns: UInt64 = 0
  /// Swap-outs that failed (the VM stayed resident and was retried later).
  public var swapFailures: UInt64 = 0
  /// CLOCK_MONOTONIC when the guest made its first hypercall in this process (nil before), nanoseconds.
  public var firstHypercallAt: UInt64?

  /// Empty accounting: nothing run yet.
  public init() {}

  /// Mean wake-up lateness in nanoseconds (0 with no wake-ups).
  public var wakeLatenessMean: UInt64 { timerWakeups == 0 ? 0 : wakeLatenessTotal / timerWakeups }

  /// Records one timer wake-up that ran `lateness` nanoseconds after its deadline.
  mutating func recordWakeup(lateness: UInt64) {
    timerWakeups += 1
    wakeLatenessTotal += lateness
    wakeLatenessMax = max(wakeLatenessMax, lateness)
  }
}

/// The final record of one VM run by the scheduler.
public struct VMReport: Sendable {
  /// The VM's id.
  public let id: UInt64
  /// The name it was submitted with (for example its image).
  public let name: String
  /// How it ended.
  public let outcome: VMOutcome
  /// What the scheduler measured.
  public let accounting: VMAccounting
}
