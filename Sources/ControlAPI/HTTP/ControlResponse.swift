// ControlResponse.swift: a complete (non-streaming) response: status, content type, extra headers, body.

/// A response ready to be written.
public struct ControlResponse: Sendable {
  /// HTTP status code.
  public var status: Int
  /// The `Content-Type` header.
  public var contentType: String
  /// Headers besides Content-Type, Content-Length and Connection.
  public var headers: [(String, String)]
  /// The body.
  public var body: [UInt8]

  /// A response with these parts.
  public init(status: Int, contentType: String, headers: [(String, String)] = [], body: [UInt8]) {
    self.status = status
    self.contentType = contentType
    self.headers = headers
    self.body = body
  }

  /// A JSON response.
  public static func json(_ value: some Encodable, status: Int = 200) -> ControlResponse {
    ControlResponse(status: status, contentType: "application/json", body: ControlJSON.bytes(value))
  }

  /// The JSON error response for `error` (with `Allow` for 405).
  public static func error(_ error: ControlError) -> ControlResponse {
    var response = json(error.body, status: error.statusCode)
    if case .methodNotAllowed(_, _, let allowed) = error {
      response.headers.append(("Allow", allowed.joined(separator: ", ")))
    }
    return response
  }
}
