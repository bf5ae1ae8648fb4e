// BuildVersion.swift: what this build of denalid is (`denalid --version`, `version` and `commit` in GET /v1/health).
import CBuildInfo
import ControlAPI

/// The package version and the git commit this binary was built from (see Sources/CBuildInfo).
enum BuildVersion {
  /// The package version, for example "0.1.0".
  // SAFETY: denali_package_version returns a NUL-terminated string literal with static storage.
  static let package = String(cString: denali_package_version())

  /// The git commit (12 hex digits, "-dirty" for a work tree with changes), or nil when the build had no git metadata.
  static let commit: String? = {
    // SAFETY: denali_git_commit returns a NUL-terminated string literal with static storage.
    let value = String(cString: denali_git_commit())
    return value.isEmpty ? nil : value
  }()

  /// What `denalid --version` prints: "denalid 0.1.0 (commit 0123456789ab)", or "... (commit unknown)".
  static var description: String { "denalid \(package) (commit \(commit ?? "unknown"))" }

  /// The same for the control API.
  static var daemonVersion: DaemonVersion { DaemonVersion(version: package, commit: commit) }
}
