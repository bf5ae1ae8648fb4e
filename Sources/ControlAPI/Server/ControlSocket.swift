// ControlSocket.swift: creates the listening unix socket: directory, stale-socket check, bind, mode and group.
import Glibc

/// A bound, listening unix stream socket for the control API, created before the daemon drops privileges.
public struct ControlSocket: Sendable {
  /// The listening descriptor (owned: passed to the server, which closes it).
  public let descriptor: Int32
  /// The socket's path.
  public let path: String
  /// Device and inode of the socket file, so that only this socket is removed at exit.
  let identity: (device: UInt64, inode: UInt64)

  /// The mode of the socket file: owner and group may connect.
  public static let mode: mode_t = 0o660

  /// Creates the parent directory (mode 0755) if needed, removes a stale socket (one nobody listens on),
  /// refuses a live socket or a non-socket, binds, sets mode 0660 and group `groupID` (nil: leave the
  /// process's group), and listens.
  public static func create(path: String, groupID: gid_t?, backlog: Int32 = 512) throws(ControlSocketError) -> ControlSocket {
    guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path), !path.isEmpty else {
      throw .pathTooLong(path)
    }
    try createParent(of: path)
    try removeStale(path)
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw .systemCall("socket", path: path, errno: errno) }
    var success = false
    defer { if !success { close(fd) } }
    var address = makeAddress(path)
    // The file is created by bind with the umask's mode; make it 0600 until chmod and chown have run.
    let oldMask = umask(0o177)
    // SAFETY: `address` is a fully initialised sockaddr_un on the stack; bind reads sizeof(sockaddr_un) bytes.
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    let bindErrno = errno
    umask(oldMask)
    guard bound == 0 else { throw .systemCall("bind", path: path, errno: bindErrno) }
    var bindSucceeded = false
    defer { if !bindSucceeded { unlink(path) } }
    if let groupID, chown(path, uid_t.max, groupID) != 0 { throw .systemCall("chown", path: path, errno: errno) }
    guard chmod(path, mode) == 0 else { throw .systemCall("chmod", path: path, errno: errno) }
    guard listen(fd, backlog) == 0 else { throw .systemCall("listen", path: path, errno: errno) }
    var status = stat()
    guard stat(path, &status) == 0 else { throw .systemCall("stat", path: path, errno: errno) }
    bindSucceeded = true
    success = true
    return ControlSocket(descriptor: fd, path: path, identity: (UInt64(status.st_dev), UInt64(status.st_ino)))
  }

  /// Removes the socket file if it is still this socket's (another daemon may have replaced it).
  public func removeFile() {
    var status = stat()
    guard lstat(path, &status) == 0, UInt64(status.st_dev) == identity.device, UInt64(status.st_ino) == identity.inode
    else { return }
    unlink(path)
  }

  /// `mkdir -p` of the socket's directory, new directories with mode 0755.
  private static func createParent(of path: String) throws(ControlSocketError) {
    var components = path.split(separator: "/", omittingEmptySubsequences: true).dropLast()
    var current = path.hasPrefix("/") ? "" : "."
    while let next = components.first {
      components = components.dropFirst()
      current += "/" + next
      if mkdir(current, 0o755) == 0 {
        // The umask may have masked bits of 0755; the group must be able to reach the socket.
        guard chmod(current, 0o755) == 0 else { throw .cannotCreateDirectory(current, errno: errno) }
      } else if errno != EEXIST {
        throw .cannotCreateDirectory(current, errno: errno)
      }
    }
  }

  /// Removes `path` if it is a socket no process listens on; throws if one does, or if it is not a socket.
  private static func removeStale(_ path: String) throws(ControlSocketError) {
    var status = stat()
    guard lstat(path, &status) == 0 else { return }
    guard status.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path) }
    let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard probe >= 0 else { throw .systemCall("socket", path: path, errno: errno) }
    defer { close(probe) }
    var address = makeAddress(path)
    // SAFETY: as in create: a fully initialised sockaddr_un, read for its size only.
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    if connected == 0 { throw .inUse(path) }
    guard errno == ECONNREFUSED else { throw .systemCall("connect (checking for a live daemon)", path: path, errno: errno) }
    guard unlink(path) == 0 || errno == ENOENT else { throw .systemCall("unlink stale socket", path: path, errno: errno) }
  }

  /// A `sockaddr_un` for `path` (whose length the caller checked).
  static func makeAddress(_ path: String) -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    // SAFETY: sun_path is a fixed array of 108 bytes; the caller checked bytes.count < 108, so the copy and the
    // terminating zero (already there from sockaddr_un()) stay inside it.
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      raw.copyBytes(from: bytes.prefix(raw.count - 1))
    }
    return address
  }
}
