// HTTPHostClient.swift: the Linux side of `denali-bench http`'s instruction counts: HTTP/1.1 GETs over blocking
// sockets, one at a time, on one kept-alive connection or on a new connection each; every response checked.
import DenaliCore
import Foundation

/// Host-side HTTP requests for the HTTP benchmark.
enum HTTPHostClient {
  /// A request head like curl's (Host, User-Agent, Accept), with `Connection: close` when `close`.
  static func head(host: String, path: String, close: Bool) -> [UInt8] {
    Array(
      ("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
        + (close ? "Connection: close\r\n" : "") + "\r\n").utf8)
  }

  /// Sends `bytes` whole on `fd`.
  static func send(_ fd: Int32, _ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
      let sent = bytes.withUnsafeBytes { buffer -> Int in
        guard let base = buffer.baseAddress else { return -1 }
        // SAFETY: offset < buffer.count; at most the remaining bytes are read.
        return Glibc.send(fd, base + offset, buffer.count - offset, 0)
      }
      guard sent > 0 else { throw BenchmarkError("send: errno \(errno)") }
      offset += sent
    }
  }

  /// Reads one response on `fd` (its head, then Content-Length bytes of body) and checks that it is a 200 with a body
  /// of `size` bytes; with `untilClosed`, then reads on until the server closes (nothing more may come).
  static func response(_ fd: Int32, size: Int, untilClosed: Bool) throws {
    var buffer = [UInt8](repeating: 0, count: 65536)
    var held: [UInt8] = []
    var headEnd: Int?
    var expected = Int.max
    while true {
      if headEnd == nil, let end = find([13, 10, 13, 10], in: held) {
        headEnd = end + 4
        let text = String(decoding: held[0..<end], as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 200 "),
          let field = text.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
          let length = Int(field.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)),
          length == size
        else { throw BenchmarkError("unexpected response head: \(text)") }
        expected = end + 4 + length
      }
      if !untilClosed && held.count >= expected { break }
      let received = buffer.withUnsafeMutableBytes { bytes in
        // SAFETY: recv writes at most bytes.count bytes into the buffer.
        recv(fd, bytes.baseAddress, bytes.count, 0)
      }
      if received == 0 { break }
      guard received > 0 else { throw BenchmarkError("recv: errno \(errno) after \(held.count) bytes") }
      held.append(contentsOf: buffer[0..<received])
      guard held.count <= expected else { throw BenchmarkError("\(held.count) bytes for a response of \(expected)") }
    }
    guard held.count == expected else { throw BenchmarkError("response of \(held.count) bytes, expected \(expected)") }
  }

  /// The offset of `needle` in `haystack`, or nil.
  private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard haystack.count >= needle.count else { return nil }
    return (0...(haystack.count - needle.count)).first { start in
      needle.indices.allSatisfy { haystack[start + $0] == needle[$0] }
    }
  }

  /// `count` requests for `path` on one kept-alive connection; nanoseconds from connect to the last response.
  static func keptAlive(address: String, path: String, size: Int, count: Int) throws -> UInt64 {
    let fd = try TCPHostPeer.connect(to: address, port: 80)
    defer { close(fd) }
    let start = ContinuousClock.now
    let request = head(host: address, path: path, close: false)
    for _ in 0..<count {
      try send(fd, request)
      try response(fd, size: size, untilClosed: false)
    }
    return nanoseconds(ContinuousClock.now - start)
  }

  /// `count` requests for `path`, each on a new connection the server closes after its response; nanoseconds in all.
  static func newConnections(address: String, path: String, size: Int, count: Int) throws -> UInt64 {
    let request = head(host: address, path: path, close: true)
    var elapsed = Duration.zero
    for _ in 0..<count {
      let fd = try TCPHostPeer.connect(to: address, port: 80)
      let start = ContinuousClock.now
      defer { close(fd) }
      try send(fd, request)
      try response(fd, size: size, untilClosed: true)
      elapsed += ContinuousClock.now - start
    }
    return nanoseconds(elapsed)
  }
}
