// ControlSocket.swift: creates the listening unix socket: directory, stale-socket check, bind, mode and group.
import Glibc
import TrustedFiles

/// A bound, listening unix stream socket for the control API, created before the daemon drops privileges.
///
/// The socket's directory is opened by descriptor and checked like every directory the daemon writes in
/// (`TrustedDirectory.open`: only root or the daemon's user may change it or any directory above it; a sticky
/// directory such as /tmp is allowed), and the socket file is bound, checked, given its mode and group, and
/// removed relative to that descriptor, so that nobody can swap the file or a directory for a link underneath.
public struct ControlSocket: Sendable {
  /// The listening descriptor (owned: passed to the server, which closes it).
  public let descriptor: Int32
  /// The socket's path.
  public let path: String
  /// Device and inode of the socket file, so that only this socket is removed at exit.
  let identity: (device: UInt64, inode: UInt64)
  /// The socket's directory, held open, and the socket's name in it.
  private let directory: TrustedDirectory
  private let name: String

  /// The mode of the socket file: owner and group may connect.
  public static let mode: mode_t = 0o660

  /// Creates the parent directories (mode 0755) if needed, removes a stale socket (one nobody listens on),
  /// refuses a live socket or a non-socket, binds, sets mode 0660 and group `groupID` (nil: leave the
  /// process's group), and listens.
  public static func create(path: String, groupID: gid_t?, backlog: Int32 = 512) throws(ControlSocketError)
    -> ControlSocket
  {
    guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path), !path.isEmpty,
      let slash = path.lastIndex(of: "/"), path.index(after: slash) < path.endIndex
    else {
      throw .pathTooLong(path)
    }
    let name = String(path[path.index(after: slash)...])
    let parent = slash == path.startIndex ? "/" : String(path[..<slash])
    let directory: TrustedDirectory
    do {
      directory = try TrustedDirectory.open(parent, creating: .missingDirectories(0o755), stickyTarget: true)
    } catch {
      throw .directory(error)
    }
    // bind(2) takes a path: name the directory through its descriptor, so the socket is made exactly there.
    // Without /proc (or when that name is too long) the path itself is used: its directory was checked, so
    // only root and the daemon's user could change what it names.
    let descriptorPath = "/proc/self/fd/\(directory.descriptor)"
    let bindPath = descriptorPath + "/" + name
    let address =
      bindPath.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) && access(descriptorPath, F_OK) == 0
      ? bindPath : path
    try removeStale(name, in: directory, address: address, path: path)
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw .systemCall("socket", path: path, errno: errno) }
    var success = false
    defer { if !success { close(fd) } }
    var socketAddress = makeAddress(address)
    // bind creates the file with the socket inode's mode less the umask; set that mode to 0600 first, so the file
    // is 0600 until chown and chmod have run (Linux's AF_UNIX bind takes the mode from the socket's inode). The
    // process-wide umask is left alone: changing it would race with every thread creating files meanwhile.
    guard fchmod(fd, 0o600) == 0 else { throw .systemCall("fchmod (socket before bind)", path: path, errno: errno) }
    // SAFETY: `socketAddress` is a fully initialised sockaddr_un on the stack; bind reads sizeof(sockaddr_un) bytes.
    let bound = withUnsafePointer(to: &socketAddress) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard bound == 0 else { throw .systemCall("bind", path: path, errno: errno) }
    var bindSucceeded = false
    defer { if !bindSucceeded { directory.remove(name) } }
    // The entry is the socket just bound (checked), so the changes below cannot reach anything else.
    guard let status = directory.status(of: name), status.st_mode & S_IFMT == S_IFSOCK else {
      throw .notASocket(path)
    }
    // Only when the socket is not already the group's (a daemon running as the group, as under the systemd unit,
    // needs no chown, which the unit's system-call filter refuses).
    if let groupID, status.st_gid != groupID,
      fchownat(directory.descriptor, name, uid_t.max, groupID, AT_SYMLINK_NOFOLLOW) != 0
    {
      throw .systemCall("chown", path: path, errno: errno)
    }
    guard fchmodat(directory.descriptor, name, mode, 0) == 0 else {
      throw .systemCall("chmod", path: path, errno: errno)
    }
    guard listen(fd, backlog) == 0 else { throw .systemCall("listen", path: path, errno: errno) }
    bindSucceeded = true
    success = true
    return ControlSocket(
      descriptor: fd, path: path, identity: (UInt64(status.st_dev), UInt64(status.st_ino)), directory: directory,
      name: name)
  }

  /// Removes the socket file if it is still this socket's (another daemon may have replaced it).
  public func removeFile() {
    guard let status = directory.status(of: name), UInt64(status.st_dev) == identity.device,
      UInt64(status.st_ino) == identity.inode
    else { return }
    directory.remove(name)
  }

  /// Removes `name` if it is a socket no process listens on; throws if one does, or if it is not a socket.
  private static func removeStale(
    _ name: String, in directory: TrustedDirectory, address: String, path: String
  ) throws(ControlSocketError) {
    guard let status = directory.status(of: name) else { return }
    guard status.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path) }
    let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard probe >= 0 else { throw .systemCall("socket", path: path, errno: errno) }
    defer { close(probe) }
    var socketAddress = makeAddress(address)
    // SAFETY: as in create: a fully initialised sockaddr_un, read for its size only.
    let connected = withUnsafePointer(to: &socketAddress) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    if connected == 0 { throw .inUse(path) }
    guard errno == ECONNREFUSED else {
      throw .systemCall("connect (checking for a live daemon)", path: path, errno: errno)
    }
    guard directory.remove(name) else { throw .systemCall("unlink stale socket", path: path, errno: errno) }
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
