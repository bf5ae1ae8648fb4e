// TrustedDirectory.swift: a directory the daemon writes in, held open by descriptor: every file in it is created,
// opened, renamed and removed relative to that descriptor (openat, renameat, unlinkat, fstatat) without following
// symbolic links, so no path can be swapped underneath once the directory was checked.
import Glibc

/// An open directory that only root and the daemon's user can change (checked when opened: `open(_:create:)`),
/// and the file operations the daemon performs in it, all relative to its descriptor.
public final class TrustedDirectory: @unchecked Sendable {
  /// The path it was opened by (for messages; never used to reach it again).
  public let path: String
  /// The directory's descriptor (O_RDONLY | O_DIRECTORY), closed with the object.
  public let descriptor: Int32

  init(path: String, descriptor: Int32) {
    self.path = path
    self.descriptor = descriptor
  }

  deinit { close(descriptor) }

  /// The path of `name` inside the directory, for messages.
  public func path(of name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

  /// Opens the regular file `name` with `flags` (plus O_NOFOLLOW and O_CLOEXEC; with O_CREAT, mode `mode`).
  /// Returns the descriptor, or -1 with errno set: ELOOP for a symbolic link, EINVAL for something other than
  /// a regular file (a FIFO is opened without blocking, then refused).
  public func openFile(_ name: String, flags: Int32, mode: mode_t = 0o600) -> Int32 {
    guard Self.isPlainName(name) else {
      errno = EINVAL
      return -1
    }
    let nonBlocking = flags & O_CREAT == 0 ? O_NONBLOCK : 0
    let fd = openat(descriptor, name, flags | O_NOFOLLOW | O_CLOEXEC | nonBlocking, mode)
    guard fd >= 0 else { return -1 }
    var status = stat()
    guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
      let code = errno
      close(fd)
      errno = status.st_mode & S_IFMT == S_IFREG ? code : EINVAL
      return -1
    }
    if nonBlocking != 0 { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) }
    return fd
  }

  /// Creates the regular file `name`, which must not exist yet (O_CREAT | O_EXCL: never an existing file or link).
  public func createFile(_ name: String, flags: Int32, mode: mode_t = 0o600) -> Int32 {
    openFile(name, flags: flags | O_CREAT | O_EXCL, mode: mode)
  }

  /// Renames `name` to `newName` inside the directory (replacing `newName`); false with errno set on failure.
  public func rename(_ name: String, to newName: String) -> Bool {
    guard Self.isPlainName(name), Self.isPlainName(newName) else {
      errno = EINVAL
      return false
    }
    return renameat(descriptor, name, descriptor, newName) == 0
  }

  /// Removes the entry `name` (never following it); true when it is gone (also when it was missing).
  @discardableResult
  public func remove(_ name: String) -> Bool {
    guard Self.isPlainName(name) else { return false }
    return unlinkat(descriptor, name, 0) == 0 || errno == ENOENT
  }

  /// The status of the entry `name` itself (a link is not followed), or nil with errno set.
  public func status(of name: String) -> stat? {
    guard Self.isPlainName(name) else {
      errno = EINVAL
      return nil
    }
    var status = stat()
    return fstatat(descriptor, name, &status, AT_SYMLINK_NOFOLLOW) == 0 ? status : nil
  }

  /// True when an entry (of any kind) named `name` exists.
  public func contains(_ name: String) -> Bool { status(of: name) != nil }

  /// The names in the directory ("." and ".." left out); empty when it cannot be read.
  public func names() -> [String] {
    let copy = openat(descriptor, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard copy >= 0, let handle = fdopendir(copy) else { return [] }
    defer { closedir(handle) }
    var names: [String] = []
    while let entry = readdir(handle) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names
  }

  /// Makes the directory's entries durable (fsync of the directory); false with errno set on failure.
  public func sync() -> Bool {
    while fsync(descriptor) != 0 {
      guard errno == EINTR else { return false }
    }
    return true
  }

  /// The subdirectory `name`, created (mode 0700) when missing with `create`, checked like the directory itself.
  public func subdirectory(_ name: String, create: Bool = true) throws(TrustedDirectoryError) -> TrustedDirectory {
    guard Self.isPlainName(name) else { throw .unresolvable(path: path(of: name), reason: "not a plain name") }
    var walk = PathWalk(
      start: self, components: [name], creation: create ? .missingTarget(0o700) : .none, stickyTarget: false)
    return try walk.run()
  }

  /// Removes the subdirectory `name` and everything in it, by descriptor (entries are never followed).
  public func removeTree(_ name: String) {
    guard Self.isPlainName(name), let status = status(of: name), status.st_mode & S_IFMT == S_IFDIR else {
      remove(name)
      return
    }
    let fd = openat(descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    if fd >= 0 {
      let inner = TrustedDirectory(path: path(of: name), descriptor: fd)
      for entry in inner.names() { inner.removeTree(entry) }
    }
    unlinkat(descriptor, name, AT_REMOVEDIR)
  }

  /// True for a single path component: not empty, not "." or "..", no "/" and no NUL.
  static func isPlainName(_ name: String) -> Bool {
    !name.isEmpty && name != "." && name != ".." && !name.utf8.contains(0x2F) && !name.utf8.contains(0)
  }
}
