// HTTPRequest.swift: a parsed HTTP/1.x request head: method, version, normalised path and connection handling.

/// The methods Ilwaco's HTTP server answers.
public enum HTTPMethod: Equatable {
  /// GET: the file.
  case get
  /// HEAD: the head of GET's response, without the body.
  case head
}

/// One request, as `HTTPRequestParser` found it.
public struct HTTPRequest {
  /// GET or HEAD.
  public let method: HTTPMethod
  /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1 (and any later 1.x).
  public let minorVersion: UInt8
  /// The target's path, percent-decoded and checked: starts with '/', no empty, "." or ".." segment, no byte
  /// below 0x20, no 0x7f, no backslash; the query is dropped. It lives in the parser and stays valid until
  /// the parser's next `parse`.
  public let path: UnsafeRawBufferPointer
  /// Whether the connection stays open after the response (HTTP/1.1 unless `Connection: close`; HTTP/1.0
  /// only with `Connection: keep-alive`).
  public let keepAlive: Bool
  /// Bytes of request body, which the parser skips before the next request.
  public let contentLength: UInt64
}
