// ControlError.swift: every way the API refuses a request, each with its HTTP status, code and message.

/// A refused request. Each case's response is a 4xx (5xx only for a failing host) with an `ErrorBody`.
public enum ControlError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The HTTP request could not be parsed (400).
  case malformedHTTP(String)
  /// The body is not valid JSON (400).
  case malformedJSON(String)
  /// A query parameter is unknown or has a bad value (400).
  case invalidQuery(String)
  /// A body was sent to an endpoint that takes none (400).
  case unexpectedBody
  /// The body has a field the endpoint does not define (422).
  case unknownField(String, known: [String])
  /// A required field is absent (422).
  case missingField(String)
  /// A field has the wrong type or a value out of bounds (422).
  case invalidField(String, String)
  /// The body is valid JSON of the wrong shape (422).
  case invalidBody(String)
  /// The image cannot be used: not found, outside the image directories, not a regular file (422).
  case imageRefused(String)
  /// The body is larger than the configured limit (413).
  case bodyTooLarge(limit: Int)
  /// The body is not `application/json` (415).
  case unsupportedMediaType(String)
  /// No such route (404).
  case routeNotFound(String)
  /// No such VM (404).
  case vmNotFound(String)
  /// The route exists but not with this method (405); `allowed` goes into the `Allow` header.
  case methodNotAllowed(method: String, path: String, allowed: [String])
  /// The request conflicts with the current state (409).
  case conflict(String)
  /// A configured limit would be exceeded (409).
  case limitReached(String)
  /// A per-user quota would be exceeded (403; the message names the quota key).
  case quotaExceeded(String)
  /// The engine cannot carry out a well-formed request (422).
  case unprocessable(String)
  /// The daemon is not accepting requests now (503).
  case notAccepting(String)
  /// The host failed (500).
  case hostError(String)

  /// The HTTP status code.
  public var statusCode: Int {
    switch self {
    case .malformedHTTP, .malformedJSON, .invalidQuery, .unexpectedBody: 400
    case .unknownField, .missingField, .invalidField, .invalidBody, .imageRefused, .unprocessable: 422
    case .bodyTooLarge: 413
    case .unsupportedMediaType: 415
    case .routeNotFound, .vmNotFound: 404
    case .methodNotAllowed: 405
    case .conflict, .limitReached: 409
    case .quotaExceeded: 403
    case .notAccepting: 503
    case .hostError: 500
    }
  }

  /// The stable machine-readable code.
  public var code: String {
    switch self {
    case .malformedHTTP: "malformed_http"
    case .malformedJSON: "malformed_json"
    case .invalidQuery: "invalid_query"
    case .unexpectedBody: "unexpected_body"
    case .unknownField: "unknown_field"
    case .missingField: "missing_field"
    case .invalidField: "invalid_field"
    case .invalidBody: "invalid_body"
    case .imageRefused: "image_refused"
    case .bodyTooLarge: "body_too_large"
    case .unsupportedMediaType: "unsupported_media_type"
    case .routeNotFound: "route_not_found"
    case .vmNotFound: "vm_not_found"
    case .methodNotAllowed: "method_not_allowed"
    case .conflict: "conflict"
    case .limitReached: "limit_reached"
    case .quotaExceeded: "quota_exceeded"
    case .unprocessable: "unprocessable"
    case .notAccepting: "not_accepting"
    case .hostError: "host_error"
    }
  }

  /// What is wrong, for a person.
  public var description: String {
    switch self {
    case .malformedHTTP(let detail): "malformed HTTP request: \(detail)"
    case .malformedJSON(let detail): "the body is not valid JSON: \(detail)"
    case .invalidQuery(let detail): detail
    case .unexpectedBody: "this endpoint takes no request body"
    case .unknownField(let field, let known):
      "unknown field '\(field)' (known fields: \(known.joined(separator: ", ")))"
    case .missingField(let field): "missing required field '\(field)'"
    case .invalidField(let field, let detail): "field '\(field)' \(detail)"
    case .invalidBody(let detail): detail
    case .imageRefused(let detail): detail
    case .bodyTooLarge(let limit): "the request body is larger than the limit of \(limit) bytes"
    case .unsupportedMediaType(let type): "the body must be application/json, not '\(type)'"
    case .routeNotFound(let path): "no such endpoint: \(path)"
    case .vmNotFound(let detail): detail
    case .methodNotAllowed(let method, let path, let allowed):
      "\(method) is not allowed on \(path) (allowed: \(allowed.joined(separator: ", ")))"
    case .conflict(let detail), .limitReached(let detail), .quotaExceeded(let detail), .unprocessable(let detail),
      .notAccepting(let detail),
      .hostError(let detail):
      detail
    }
  }

  /// The JSON body of the response.
  public var body: ErrorBody { ErrorBody(code: code, message: description) }

  /// The error for an engine's refusal.
  public init(_ error: ControlBackendError) {
    switch error {
    case .notFound(let message): self = .vmNotFound(message)
    case .conflict(let message): self = .conflict(message)
    case .limitReached(let message): self = .limitReached(message)
    case .quotaExceeded(let message): self = .quotaExceeded(message)
    case .invalid(let message): self = .unprocessable(message)
    case .unavailable(let message): self = .notAccepting(message)
    case .hostError(let message): self = .hostError(message)
    }
  }
}
