// SeccompSetup.swift: turning the per-thread system-call filters on for `run` and `serve` (DENALI_SECCOMP).
import Logging
import ThreadConfinement

/// The daemon's side of `ThreadConfinement`: the mode from DENALI_SECCOMP (default: enforce), logged.
enum SeccompSetup {
  /// Turns the filters on (or trace mode, or leaves them off) for every thread started afterwards. Returns nil,
  /// or why they could not be turned on.
  static func enable(logger: Logger?) -> String? {
    let mode = ThreadConfinement.requestedMode
    if let failure = ThreadConfinement.enable(mode, violation: ThreadConfinement.requestedViolation) {
      return failure
    }
    switch mode {
    case .enforce: logger?.notice("system-call filters on: one seccomp filter per thread role (Docs/ARCHITECTURE.md)")
    case .off: logger?.warning("system-call filters off (DENALI_SECCOMP=off)")
    case .trace: logger?.warning("system-call filters off; thread roles marked for strace (DENALI_SECCOMP=trace)")
    }
    return nil
  }
}
