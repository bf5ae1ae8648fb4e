// BackendHealth.swift: the engine's answer to "are you well?", for GET /v1/health.

/// Whether the engine can take work.
public struct BackendHealth: Equatable, Sendable {
  /// True when the engine works as it should.
  public var healthy: Bool
  /// A short explanation, shown as is (for example "ok", or what is wrong).
  public var detail: String

  /// A health report.
  public init(healthy: Bool, detail: String) {
    self.healthy = healthy
    self.detail = detail
  }
}
