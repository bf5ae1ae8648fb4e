// VMState.swift: where a VM is in its life, as the control API reports it.

/// The state of one VM.
public enum VMState: Equatable, Hashable, Sendable, Codable {
  /// On a worker thread, in the guest or handling one of its exits.
  case running
  /// Resident and ready to run, waiting for a worker.
  case runnable
  /// Resident, idle until a timeout or a virtual interrupt.
  case idle
  /// Created, waiting for the gatekeeper to admit it into memory.
  case waitingForAdmission
  /// Its memory and vCPU state are in its swap file; it holds no KVM objects.
  case swappedOut
  /// Being written to its swap file.
  case swappingOut
  /// Being read back from its swap file.
  case swappingIn
  /// The guest terminated itself with this status (0-255).
  case exited(status: Int32)
  /// The guest was stopped for a fault, described here.
  case faulted(description: String)
  /// Stopped by an operator (or by the daemon at a deadline).
  case killed

  /// The state without its details.
  public var kind: VMStateKind {
    switch self {
    case .running: .running
    case .runnable: .runnable
    case .idle: .idle
    case .waitingForAdmission: .waitingForAdmission
    case .swappedOut: .swappedOut
    case .swappingOut: .swappingOut
    case .swappingIn: .swappingIn
    case .exited: .exited
    case .faulted: .faulted
    case .killed: .killed
    }
  }

  /// True once the VM will never run again.
  public var isFinished: Bool { kind.isFinished }
}

/// A VM state without details: the `state` field of the JSON and the `state` label of the metrics.
public enum VMStateKind: String, CaseIterable, Codable, Hashable, Sendable {
  /// See `VMState.running`.
  case running
  /// See `VMState.runnable`.
  case runnable
  /// See `VMState.idle`.
  case idle
  /// See `VMState.waitingForAdmission`.
  case waitingForAdmission = "waiting_for_admission"
  /// See `VMState.swappedOut`.
  case swappedOut = "swapped_out"
  /// See `VMState.swappingOut`.
  case swappingOut = "swapping_out"
  /// See `VMState.swappingIn`.
  case swappingIn = "swapping_in"
  /// See `VMState.exited`.
  case exited
  /// See `VMState.faulted`.
  case faulted
  /// See `VMState.killed`.
  case killed

  /// True for the states a VM never leaves.
  public var isFinished: Bool { self == .exited || self == .faulted || self == .killed }
}
