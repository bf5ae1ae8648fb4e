// HTTPParserLimits.swift: the sizes past which HTTPRequestParser refuses a request.

/// Limits on one request; each has its status.
public struct HTTPParserLimits {
  /// Longest request line, its line end included (414 past it).
  public var requestLine: Int
  /// Longest head: request line, header fields and the empty line (431 past it). The parser buffers this much.
  public var head: Int
  /// Most lines in a head, the request line included (431 past it).
  public var lines: Int
  /// Longest request body, which is read and dropped (413 past it).
  public var body: UInt64

  /// The limits; the defaults suit a small file server (a request line of 1 KiB, a head of 4 KiB in 64 lines,
  /// a body of 64 KiB). The head is kept between 16 bytes and 1 MiB, the request line between 16 bytes and the
  /// head, the lines between 2 and 65,536.
  public init(requestLine: Int = 1024, head: Int = 4096, lines: Int = 64, body: UInt64 = 65536) {
    self.head = min(max(head, 16), 1 << 20)
    self.requestLine = min(max(requestLine, 16), self.head)
    self.lines = min(max(lines, 2), 65536)
    self.body = body
  }
}
