// HTTPStatus.swift: the HTTP status codes Ilwaco's server side sends, with their status lines.

/// An HTTP response status: its code and its whole status line.
public struct HTTPStatus: Equatable {
  /// The three-digit code.
  public let code: UInt16
  /// "HTTP/1.1 CODE REASON\r\n", written as it is.
  public let statusLine: StaticString

  /// Statuses with the same code are equal.
  public static func == (left: HTTPStatus, right: HTTPStatus) -> Bool { left.code == right.code }

  /// 200: the file follows.
  public static let ok = HTTPStatus(code: 200, statusLine: "HTTP/1.1 200 OK\r\n")
  /// 400: malformed request line, header field, target or framing.
  public static let badRequest = HTTPStatus(code: 400, statusLine: "HTTP/1.1 400 Bad Request\r\n")
  /// 404: no such file.
  public static let notFound = HTTPStatus(code: 404, statusLine: "HTTP/1.1 404 Not Found\r\n")
  /// 405: a method other than GET and HEAD.
  public static let methodNotAllowed = HTTPStatus(code: 405, statusLine: "HTTP/1.1 405 Method Not Allowed\r\n")
  /// 413: a body (to be skipped) longer than the limit.
  public static let contentTooLarge = HTTPStatus(code: 413, statusLine: "HTTP/1.1 413 Content Too Large\r\n")
  /// 414: a request line longer than the limit.
  public static let uriTooLong = HTTPStatus(code: 414, statusLine: "HTTP/1.1 414 URI Too Long\r\n")
  /// 431: the request's head (lines or bytes) larger than the limit.
  public static let headersTooLarge = HTTPStatus(
    code: 431, statusLine: "HTTP/1.1 431 Request Header Fields Too Large\r\n")
  /// 500: the server failed (for example a corrupt site image).
  public static let internalServerError = HTTPStatus(code: 500, statusLine: "HTTP/1.1 500 Internal Server Error\r\n")
  /// 501: a Transfer-Encoding (chunked request bodies are not supported).
  public static let notImplemented = HTTPStatus(code: 501, statusLine: "HTTP/1.1 501 Not Implemented\r\n")
  /// 505: an HTTP major version other than 1.
  public static let versionNotSupported = HTTPStatus(
    code: 505, statusLine: "HTTP/1.1 505 HTTP Version Not Supported\r\n")
}
