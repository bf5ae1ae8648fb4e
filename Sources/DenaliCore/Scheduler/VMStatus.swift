// VMStatus.swift: a point-in-time view of one live VM, for operators and benchmarks.

/// What a live VM is doing and what it has used so far.
public struct VMStatus: Sendable {
  /// Where a VM is in its life.
  public enum Phase: String, CaseIterable, Sendable {
    /// On a worker now.
    case running
    /// Resident and waiting for a worker.
    case runnable
    /// Resident and idle (waiting for its timer or an interrupt).
    case idle
    /// Runnable but not in memory: waiting for the gatekeeper to admit it.
    case waitingForAdmission = "waiting_for_admission"
    /// Idle and not in memory (swapped out, or never loaded).
    case swappedOut = "swapped_out"
    /// Being written to its swap file.
    case swappingOut = "swapping_out"
    /// Being booted or read back from its swap file.
    case swappingIn = "swapping_in"
    /// Over.
    case finished
  }

  /// The VM's id.
  public let id: UInt64
  /// The name it was submitted with.
  public let name: String
  /// What it is doing.
  public let phase: Phase
  /// Bytes of guest memory.
  public let memorySize: UInt64
  /// CPU time, exits, swaps and the rest, as of its last slice.
  public let accounting: VMAccounting
}
