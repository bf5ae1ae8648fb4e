// VMOutcome.swift: how a guest's run ended.

/// How a VM's run ended.
public enum VMOutcome: Equatable, Sendable {
  /// The guest terminated itself with this status (0-255).
  case exited(status: Int32)
  /// The guest was stopped for a fault.
  case faulted(GuestFault)
  /// The guest ran past its deadline and was stopped.
  case timedOut
  /// The host failed the VM (KVM refused to run it, its swap image could not be read back, booting it
  /// failed): not the guest's doing. `denalid run` exits 125 for it.
  case hostFailed(reason: String)
}
