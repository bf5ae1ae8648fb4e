// GuestCPUMeasurement.swift: a process-wide switch that makes KVM_RUN read its thread's CPU time as well, on
// every run or on a random one in N.
import Synchronization

/// Whether KVM_RUN is also timed in thread CPU time (two more clock reads per timed run, each a system call, so it
/// is off unless a benchmark turns it on). Wall time inside KVM_RUN includes time the host took the thread away
/// (steal time when this host is itself a guest), so only CPU time can be subtracted from the process's CPU time to
/// leave the daemon's own.
///
/// Timing every run adds its own two system calls to every wake-up, which then show up as the daemon's own work
/// (about 1 µs per wake-up on our nested hosts). Sampling times each run with probability 1/N and counts a timed one N
/// times: an unbiased estimate whose own cost is spread over N runs.
public enum GuestCPUMeasurement {
  /// 0: off; N: each KVM_RUN is timed with probability 1/N and a timed one counted N times.
  private static let interval = Atomic<UInt64>(0)

  /// One run in how many is timed (0: off).
  public static var samplingInterval: UInt64 { interval.load(ordering: .relaxed) }

  /// Turns the measurement on (every run timed, or each with probability 1/`sampling`) or off; runs already under
  /// way finish as they began.
  public static func set(_ on: Bool, sampling: UInt64 = 1) {
    interval.store(on ? max(sampling, 1) : 0, ordering: .relaxed)
  }
}
