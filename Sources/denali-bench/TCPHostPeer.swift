// TCPHostPeer.swift: the Linux side of `denali-bench tcp`: blocking TCP sockets that connect (retrying while the
// guest is not up yet), send or drain a bulk stream, and make echo round trips.
import Foundation

/// Host-side TCP endpoints for the TCP benchmark.
enum TCPHostPeer {
  /// Connects to `address`:`port`, trying again every 50 ms while refused or unreachable, for up to `limit`.
  /// Sends and receives then time out after 120 s without progress.
  static func connect(to address: String, port: UInt16, within limit: Duration = .seconds(30)) throws -> Int32 {
    var server = sockaddr_in()
    server.sin_family = sa_family_t(AF_INET)
    server.sin_port = port.bigEndian
    guard inet_pton(AF_INET, address, &server.sin_addr) == 1 else { throw BenchmarkError("bad address \(address)") }
    let deadline = ContinuousClock.now + limit
    while true {
      let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      guard fd >= 0 else { throw BenchmarkError("socket: errno \(errno)") }
      var timeout = timeval(tv_sec: 120, tv_usec: 0)
      _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
      _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
      var one: Int32 = 1
      _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
      let connected = withUnsafePointer(to: &server) {
        // SAFETY: sockaddr_in is layout-compatible with the sockaddr prefix connect reads, for its stated size.
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
      if connected == 0 { return fd }
      let error = errno
      close(fd)
      guard [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, ETIMEDOUT].contains(error), ContinuousClock.now < deadline else {
        throw BenchmarkError("connect to \(address):\(port): errno \(error)")
      }
      Thread.sleep(forTimeInterval: 0.05)
    }
  }

  /// Sends `count` bytes (zeros) on `fd`.
  static func send(_ fd: Int32, count: Int) throws {
    let chunk = [UInt8](repeating: 0, count: 65536)
    var left = count
    while left > 0 {
      let sent = chunk.withUnsafeBytes { bytes in
        // SAFETY: at most chunk.count bytes of the chunk are read.
        Glibc.send(fd, bytes.baseAddress, min(left, bytes.count), 0)
      }
      guard sent > 0 else { throw BenchmarkError("send: errno \(errno) with \(left) bytes left") }
      left -= sent
    }
  }

  /// Reads `fd` until the peer closes; returns the bytes read.
  static func drain(_ fd: Int32) throws -> Int {
    var buffer = [UInt8](repeating: 0, count: 262_144)
    var total = 0
    while true {
      let received = buffer.withUnsafeMutableBytes { bytes in
        // SAFETY: recv writes at most bytes.count bytes into the buffer.
        recv(fd, bytes.baseAddress, bytes.count, 0)
      }
      if received == 0 { return total }
      guard received > 0 else { throw BenchmarkError("recv: errno \(errno) after \(total) bytes") }
      total += received
    }
  }

  /// Sends `size` bytes and waits for all of them to come back, `count` times.
  static func roundTrips(_ fd: Int32, count: Int, size: Int) throws {
    var buffer = [UInt8](repeating: 0, count: max(size, 65536))
    for _ in 0..<count {
      try send(fd, count: size)
      var got = 0
      while got < size {
        let received = buffer.withUnsafeMutableBytes { bytes in
          // SAFETY: recv writes at most bytes.count bytes into the buffer.
          recv(fd, bytes.baseAddress, bytes.count, 0)
        }
        guard received > 0 else { throw BenchmarkError("echo: recv returned \(received), errno \(errno)") }
        got += received
      }
    }
  }

  /// Closes our sending side, then reads until the peer closes too.
  static func finish(_ fd: Int32) throws {
    Glibc.shutdown(fd, Int32(SHUT_WR))
    _ = try drain(fd)
    close(fd)
  }
}
