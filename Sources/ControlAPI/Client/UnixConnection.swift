// UnixConnection.swift: a blocking stream connection to a unix socket: connect, write all, read.
import Glibc

/// One blocking connection to a unix stream socket; closes its descriptor on deinit.
public final class UnixConnection {
  /// The socket's path (for messages).
  public let path: String
  private let fd: Int32

  /// Connects to `path`.
  public init(path: String) throws(ControlClientError) {
    self.path = path
    guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
      throw .cannotConnect(path: path, errno: ENAMETOOLONG)
    }
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw .cannotConnect(path: path, errno: errno) }
    var address = ControlSocket.makeAddress(path)
    // SAFETY: `address` is a fully initialised sockaddr_un; connect reads sizeof(sockaddr_un) bytes of it.
    let result = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    guard result == 0 else {
      let code = errno
      close(fd)
      throw .cannotConnect(path: path, errno: code)
    }
    self.fd = fd
  }

  deinit { close(fd) }

  /// Writes all of `bytes`.
  public func write(_ bytes: [UInt8]) throws(ControlClientError) {
    var offset = 0
    while offset < bytes.count {
      // SAFETY: the pointer covers bytes[offset...], alive for the call; send reads at most that many bytes.
      let written = bytes.withUnsafeBytes {
        send(fd, $0.baseAddress.map { $0 + offset }, bytes.count - offset, Int32(MSG_NOSIGNAL))
      }
      if written < 0 {
        if errno == EINTR { continue }
        throw errno == EPIPE || errno == ECONNRESET
          ? .closedByDaemon(path: path) : .connection(path: path, errno: errno)
      }
      offset += written
    }
  }

  /// Reads what is available (blocking until something is), at most `limit` bytes; empty at end of stream.
  public func read(limit: Int = 65_536) throws(ControlClientError) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: limit)
    while true {
      // SAFETY: `buffer` holds `limit` bytes; recv writes at most that many into it.
      let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if count < 0 {
        if errno == EINTR { continue }
        if errno == ECONNRESET { return [] }
        throw .connection(path: path, errno: errno)
      }
      return Array(buffer[0..<count])
    }
  }

  /// Shuts down the writing half (the peer sees end of stream).
  public func finishWriting() { shutdown(fd, Int32(SHUT_WR)) }
}
