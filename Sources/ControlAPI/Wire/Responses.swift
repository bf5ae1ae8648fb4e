// Responses.swift: the JSON bodies of successful responses that wrap model types.

/// `GET /v1/vms`: every VM.
public struct VMListResponse: Codable, Equatable, Sendable {
  /// The VMs, in creation order.
  public var vms: [VMInfo]

  /// A list of `vms`.
  public init(vms: [VMInfo]) { self.vms = vms }
}

/// `POST /v1/vms`: the VMs created and, for a batch cut short, why it stopped.
public struct CreateVMsResponse: Codable, Equatable, Sendable {
  /// The VMs created, in order.
  public var vms: [VMInfo]
  /// Why fewer than `count` VMs were created; absent when all were.
  public var stopped: ErrorBody?

  /// A response listing `vms`.
  public init(vms: [VMInfo], stopped: ErrorBody? = nil) {
    self.vms = vms
    self.stopped = stopped
  }

  private enum CodingKeys: String, CodingKey { case vms, stopped }

  /// Omits `stopped` when every VM was created.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(vms, forKey: .vms)
    try container.encodeIfPresent(stopped, forKey: .stopped)
  }
}

/// `GET /v1/health`.
public struct HealthResponse: Codable, Equatable, Sendable {
  /// `ok`, or `unhealthy`, or `stopping` while the daemon shuts down.
  public var status: String
  /// True while the API accepts requests that change state.
  public var accepting: Bool
  /// The engine's own explanation.
  public var detail: String
  /// The daemon's package version, for example `0.1.0`.
  public var version: String
  /// The git commit the daemon was built from; null when its build had no git metadata.
  public var commit: String?

  /// A health body.
  public init(status: String, accepting: Bool, detail: String, version: DaemonVersion = .unknown) {
    self.status = status
    self.accepting = accepting
    self.detail = detail
    self.version = version.version
    self.commit = version.commit
  }

  private enum CodingKeys: String, CodingKey { case status, accepting, detail, version, commit }

  /// Writes `commit` as null when unknown (the key is always there).
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(status, forKey: .status)
    try container.encode(accepting, forKey: .accepting)
    try container.encode(detail, forKey: .detail)
    try container.encode(version, forKey: .version)
    try container.encode(commit, forKey: .commit)
  }
}

/// The body of every error response: a machine-readable code and a message that says what is wrong.
public struct ErrorBody: Codable, Equatable, Sendable, Error {
  /// A stable code such as `unknown_field` (listed in Docs/API.md).
  public var code: String
  /// What is wrong, for a person.
  public var message: String

  /// An error body.
  public init(code: String, message: String) {
    self.code = code
    self.message = message
  }
}
