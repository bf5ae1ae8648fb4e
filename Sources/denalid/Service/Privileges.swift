// Privileges.swift: after setup the daemon keeps no capability it does not need, and sets no-new-privileges.
import CLibcap
import Foundation
import Glibc
import SystemCalls

/// Drops capabilities with libcap. Capabilities are per thread: this must run before the daemon starts any
/// thread (the event loop, the engine's workers), so every later thread inherits the reduced sets.
enum Privileges {
  /// Capabilities `denalid serve` keeps after setup: none. `/dev/kvm` and `/dev/net/tun` are opened, the socket
  /// is bound, chowned and chmodded, and the descriptor limit is raised before the drop; KVM ioctls, swap files
  /// in the state directory (owned by the daemon's user) and the control socket need no capability afterwards.
  static let kept: [cap_value_t] = []

  /// Removes every capability but `keep` from the bounding set (when permitted), the permitted, effective and
  /// inheritable sets, and the ambient set; then sets PR_SET_NO_NEW_PRIVS. Returns the resulting sets, as
  /// /proc/self/status shows them, for the log.
  static func drop(keeping keep: [cap_value_t] = kept) throws(PrivilegeError) -> String {
    let current = cap_get_proc()
    defer { if let current { cap_free(UnsafeMutableRawPointer(current)) } }
    var canSetBound = CAP_CLEAR
    if let current { cap_get_flag(current, CAP_SETPCAP, CAP_EFFECTIVE, &canSetBound) }
    let last = lastCapability()
    if canSetBound == CAP_SET {
      for capability in 0...last where !keep.contains(capability) {
        if cap_drop_bound(capability) != 0 && errno != EINVAL {
          throw .call("cap_drop_bound(\(capability))", errno)
        }
      }
    }
    guard let wanted = cap_init() else { throw .call("cap_init", errno) }
    defer { cap_free(UnsafeMutableRawPointer(wanted)) }
    if !keep.isEmpty, let current {
      for capability in keep {
        var permitted = CAP_CLEAR
        cap_get_flag(current, capability, CAP_PERMITTED, &permitted)
        guard permitted == CAP_SET else { continue }
        var value = capability
        // SAFETY: `value` is one cap_value_t on the stack; cap_set_flag reads exactly one element.
        cap_set_flag(wanted, CAP_PERMITTED, 1, &value, CAP_SET)
        cap_set_flag(wanted, CAP_EFFECTIVE, 1, &value, CAP_SET)
      }
    }
    guard cap_set_proc(wanted) == 0 else { throw .call("cap_set_proc", errno) }
    if cap_reset_ambient() != 0 && errno != EINVAL { throw .call("cap_reset_ambient", errno) }
    guard clibcap_set_no_new_privs() == 0 else { throw .call("prctl(PR_SET_NO_NEW_PRIVS)", errno) }
    return summary() + (canSetBound == CAP_SET ? "" : " (bounding set left as is: no CAP_SETPCAP)")
  }

  /// The highest capability number this kernel knows.
  static func lastCapability() -> cap_value_t {
    if let text = try? String(contentsOfFile: "/proc/sys/kernel/cap_last_cap", encoding: .utf8),
      let value = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    {
      return value
    }
    return CAP_LAST_CAP
  }

  /// CapEff, CapPrm, CapBnd and NoNewPrivs from /proc/self/status, on one line.
  static func summary() -> String {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return "unknown" }
    let wanted = ["CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"]
    return status.split(separator: "\n").filter { line in wanted.contains { line.hasPrefix($0 + ":") } }
      .map { $0.replacingOccurrences(of: "\t", with: " ") }.joined(separator: ", ")
  }
}

/// A failure dropping privileges.
enum PrivilegeError: Error, CustomStringConvertible {
  /// A libcap or prctl call failed.
  case call(String, Int32)

  /// The message.
  var description: String {
    switch self {
    case .call(let name, let code): "\(name) failed: \(SystemCallError.text(for: code))"
    }
  }
}
