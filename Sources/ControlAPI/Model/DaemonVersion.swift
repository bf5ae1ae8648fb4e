// DaemonVersion.swift: which build of the daemon answers, for GET /v1/health.

/// The daemon's package version and the git commit it was built from.
public struct DaemonVersion: Equatable, Sendable {
  /// The package version, for example "0.1.0".
  public var version: String
  /// The git commit (hex, "-dirty" when built from a work tree with changes); nil when the build had no git metadata.
  public var commit: String?

  /// A version.
  public init(version: String, commit: String?) {
    self.version = version
    self.commit = commit
  }

  /// For servers that do not say (tests, fixtures).
  public static let unknown = DaemonVersion(version: "unknown", commit: nil)
}
