// GuestCPUMeasurement.swift: a process-wide switch that makes every KVM_RUN read its thread's CPU time as well.
import Synchronization

/// Whether each KVM_RUN is also timed in thread CPU time (two more clock reads per run, so it is off unless a
/// benchmark turns it on). Wall time inside KVM_RUN includes time the host took the thread away (steal time when
/// this host is itself a guest), so only CPU time can be subtracted from the process's CPU time to leave the
/// daemon's own.
public enum GuestCPUMeasurement {
  private static let enabled = Atomic<Bool>(false)

  /// Whether KVM_RUN's thread CPU time is being measured.
  public static var isOn: Bool { enabled.load(ordering: .relaxed) }

  /// Turns the measurement on or off (runs already under way finish as they began).
  public static func set(_ on: Bool) { enabled.store(on, ordering: .relaxed) }
}
