// StandardStream.swift: unbuffered writes to standard output and error, retried until complete.
import Glibc

/// Whole, unbuffered writes to a standard file descriptor.
public enum StandardStream {
  /// Writes all of `buffer` to `fd`, retrying short writes and EINTR; gives up silently on other errors.
  public static func write(_ buffer: UnsafeRawBufferPointer, to fd: Int32) {
    guard var pointer = buffer.baseAddress else { return }
    var remaining = buffer.count
    while remaining > 0 {
      let written = Glibc.write(fd, pointer, remaining)
      if written < 0 {
        if errno == EINTR { continue }
        return
      }
      pointer += written
      remaining -= written
    }
  }

  /// Writes `text` as UTF-8 to `fd`.
  public static func write(_ text: String, to fd: Int32) {
    var text = text
    text.withUTF8 { write(UnsafeRawBufferPointer($0), to: fd) }
  }
}

/// Writes `message` and a newline to standard error.
public func printError(_ message: String) {
  var line = message
  if !line.hasSuffix("\n") { line += "\n" }
  StandardStream.write(line, to: 2)
}
