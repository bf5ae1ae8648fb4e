// UDPEchoClient.swift: the host side of the network benchmark: sequential UDP round trips to an echo server.
import DenaliCore
import Foundation

/// Sends datagrams to an echo server one at a time and times the round trips.
struct UDPEchoClient {
  /// Where the echo server listens.
  let address: String
  /// Its UDP port.
  let port: UInt16
  /// Bytes of payload per datagram (at least 8).
  let size: Int

  /// What a run measured.
  struct Result {
    /// Round trips completed.
    let completed: Int
    /// Datagrams sent again after a one-second wait for the echo.
    let resent: Int
    /// From the first send to the last echo, nanoseconds.
    let nanoseconds: UInt64
  }

  /// Performs `count` round trips, each waiting for its own echo (resending after 1 s, at most 5 times).
  func run(count: Int) throws -> Result {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { throw BenchmarkError("socket: errno \(errno)") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 1, tv_usec: 0)
    _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var server = sockaddr_in()
    server.sin_family = sa_family_t(AF_INET)
    server.sin_port = port.bigEndian
    guard inet_pton(AF_INET, address, &server.sin_addr) == 1 else { throw BenchmarkError("bad address \(address)") }
    let connected = withUnsafePointer(to: &server) {
      // SAFETY: sockaddr_in is layout-compatible with the sockaddr prefix connect reads, for its stated size.
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else { throw BenchmarkError("connect: errno \(errno)") }
    var payload = [UInt8](repeating: 0x5A, count: max(8, size))
    var reply = [UInt8](repeating: 0, count: 2048)
    var completed = 0
    var resent = 0
    let start = ContinuousClock.now
    for sequence in 0..<count {
      withUnsafeBytes(of: UInt64(sequence).littleEndian) { payload.replaceSubrange(0..<8, with: $0) }
      var tries = 0
      exchange: while tries < 5 {
        tries += 1
        guard send(fd, payload, payload.count, 0) == payload.count else { throw BenchmarkError("send: errno \(errno)") }
        while true {
          let received = recv(fd, &reply, reply.count, 0)
          if received < 0 {
            resent += 1
            continue exchange  // timed out: send again
          }
          if received == payload.count && reply.prefix(received).elementsEqual(payload) {
            completed += 1
            break exchange
          }
          // A late echo of an earlier datagram: keep waiting for this one.
        }
      }
    }
    return Result(completed: completed, resent: resent, nanoseconds: nanoseconds(ContinuousClock.now - start))
  }
}

/// A benchmark that could not run.
struct BenchmarkError: Error, CustomStringConvertible {
  /// What went wrong.
  let description: String
  init(_ description: String) { self.description = description }
}
