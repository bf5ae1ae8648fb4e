// HTTPResponseHead.swift: writes an HTTP/1.1 response head (status line, Content-Type, Content-Length,
// Connection, Allow) into a buffer with a few copies: no strings are built.

/// The head of a response.
public enum HTTPResponseHead {
  /// The most bytes `write` produces: a buffer of this size always suffices.
  public static let maximumLength = 256

  /// Writes the head for `status` into `buffer` (at least `maximumLength` bytes; `contentType` at most 64)
  /// and returns its length: the status line, `Content-Type` when given, `Content-Length`, `Connection: close`
  /// when the connection closes after it (or `Connection: keep-alive` when it stays open for an HTTP/1.0
  /// client), `Allow: GET, HEAD` with 405, and the empty line.
  public static func write(
    status: HTTPStatus, contentType: StaticString?, contentLength: UInt64, keepAlive: Bool, minorVersion: UInt8,
    into buffer: UnsafeMutableRawPointer
  ) -> Int {
    var length = 0
    append(status.statusLine, to: buffer, at: &length)
    if let contentType {
      append("Content-Type: ", to: buffer, at: &length)
      append(contentType, to: buffer, at: &length)
      append("\r\nContent-Length: ", to: buffer, at: &length)
    } else {
      append("Content-Length: ", to: buffer, at: &length)
    }
    appendDecimal(contentLength, to: buffer, at: &length)
    if status == .methodNotAllowed {
      append("\r\nAllow: GET, HEAD", to: buffer, at: &length)
    }
    if !keepAlive {
      append("\r\nConnection: close\r\n\r\n", to: buffer, at: &length)
    } else if minorVersion == 0 {
      append("\r\nConnection: keep-alive\r\n\r\n", to: buffer, at: &length)
    } else {
      append("\r\n\r\n", to: buffer, at: &length)
    }
    return length
  }

  /// Copies `text` to buffer[length...] and advances `length`. The longest status line, content type and
  /// fields together stay below `maximumLength`.
  @inline(__always)
  private static func append(_ text: StaticString, to buffer: UnsafeMutableRawPointer, at length: inout Int) {
    // SAFETY: the caller's buffer holds maximumLength bytes, more than any head this writes.
    (buffer + length).copyMemory(from: text.utf8Start, byteCount: text.utf8CodeUnitCount)
    length += text.utf8CodeUnitCount
  }

  /// Writes `value` in decimal at buffer[length...] (at most 20 digits) and advances `length`.
  private static func appendDecimal(_ value: UInt64, to buffer: UnsafeMutableRawPointer, at length: inout Int) {
    // Digits go backwards into the 20 bytes past the head's room for them, then move into place.
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
    withUnsafeMutableBytes(of: &digits) { scratch in
      var position = 24
      var rest = value
      repeat {
        position &-= 1
        // SAFETY: at most 20 digits, so position stays in 4..<24.
        scratch[position] = UInt8(truncatingIfNeeded: rest % 10) &+ 0x30
        rest /= 10
      } while rest != 0
      guard let digits = scratch.baseAddress else { return }
      // SAFETY: the caller's buffer holds maximumLength bytes, more than any head this writes.
      (buffer + length).copyMemory(from: digits + position, byteCount: 24 &- position)
      length &+= 24 &- position
    }
  }
}
