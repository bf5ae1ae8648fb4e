// ControlBackendError.swift: the ways an engine refuses a control request, each mapped to one HTTP status.

/// Why the engine refused a request; the message is shown to the operator as is.
public enum ControlBackendError: Error, Equatable, Sendable, Codable, CustomStringConvertible {
  /// No VM has this id or name (HTTP 404).
  case notFound(String)
  /// The request conflicts with the current state: a name in use, a VM already finished (HTTP 409).
  case conflict(String)
  /// A configured limit would be exceeded, such as the number of VMs (HTTP 409).
  case limitReached(String)
  /// A per-user quota of the requester would be exceeded; the message names the quota (HTTP 403).
  case quotaExceeded(String)
  /// The request is well formed but cannot be carried out, such as an image that is not a guest (HTTP 422).
  case invalid(String)
  /// The engine is not accepting work now, for example while shutting down (HTTP 503).
  case unavailable(String)
  /// The host failed (HTTP 500).
  case hostError(String)

  /// The operator-facing message.
  public var description: String {
    switch self {
    case .notFound(let message), .conflict(let message), .limitReached(let message), .quotaExceeded(let message),
      .invalid(let message),
      .unavailable(let message), .hostError(let message):
      message
    }
  }
}
