// PathWalk.swift: opens a directory by walking its path one component at a time from "/" by descriptor, checking
// that root or the daemon's user alone can change each directory and link on the way, and the directory itself.
import Glibc

extension TrustedDirectory {
  /// Which missing directories `open` creates.
  public enum Creation: Sendable {
    /// None: every directory must exist.
    case none
    /// The directory itself, with this mode (exactly: the umask does not apply); its parent must exist.
    case missingTarget(mode_t)
    /// Every missing directory on the path, with this mode.
    case missingDirectories(mode_t)
  }

  /// Opens the directory at `path` (relative paths are taken from the working directory), walking it from "/"
  /// component by component by descriptor. Every directory and symbolic link on the way must belong to root or
  /// the daemon's user (its effective uid), and a directory on the way may be writable by group or others only
  /// with the sticky bit (as /tmp is); the directory itself must belong to the daemon's user and not be writable
  /// by group or others (with `stickyTarget`, it is held to the rule of the directories on the way instead, for
  /// the control socket's directory). Throws naming the directory, its owner and mode otherwise.
  public static func open(
    _ path: String, creating creation: Creation = .none, stickyTarget: Bool = false
  ) throws(TrustedDirectoryError) -> TrustedDirectory {
    guard !path.isEmpty, !path.utf8.contains(0) else { throw .unresolvable(path: path, reason: "an empty path") }
    var absolute = path
    if !path.hasPrefix("/") {
      guard let cwd = getcwd(nil, 0) else { throw .system(path: path, operation: "getcwd", errno: errno) }
      absolute = String(cString: cwd) + "/" + path
      free(cwd)
    }
    let rootFD = Glibc.open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard rootFD >= 0 else { throw .system(path: "/", operation: "open", errno: errno) }
    let root = TrustedDirectory(path: "/", descriptor: rootFD)
    var walk = PathWalk(
      start: root, components: absolute.split(separator: "/").map(String.init), creation: creation,
      stickyTarget: stickyTarget)
    return try walk.run()
  }
}

/// One walk down a path by descriptor (see `TrustedDirectory.open`).
struct PathWalk {
  /// Directories opened so far, the last the current one ("..": back one).
  private var stack: [TrustedDirectory]
  /// Components still to walk, the next one last.
  private var pending: [String]
  private let creation: TrustedDirectory.Creation
  private let stickyTarget: Bool
  private var links = 0
  /// The root, where an absolute link starts again; nil when links are refused (a subdirectory's walk).
  private let root: TrustedDirectory?

  /// Symbolic links followed at most (as the kernel's own limit).
  static let maximumLinks = 40

  init(start: TrustedDirectory, components: [String], creation: TrustedDirectory.Creation, stickyTarget: Bool) {
    stack = [start]
    root = start.path == "/" ? start : nil
    pending = components.reversed()
    self.creation = creation
    self.stickyTarget = stickyTarget
  }

  /// Walks every component and returns the directory reached, checked as the target.
  mutating func run() throws(TrustedDirectoryError) -> TrustedDirectory {
    guard let start = stack.last else { throw .unresolvable(path: "/", reason: "nothing to walk") }
    if start.path == "/" {
      try Self.check(start.descriptor, path: "/", isTarget: pending.isEmpty, stickyTarget: stickyTarget)
    }
    while let name = pending.popLast() {
      guard let current = stack.last else { break }
      if name == "." || name.isEmpty { continue }
      if name == ".." {
        if stack.count > 1 { stack.removeLast() }
        continue
      }
      let path = current.path(of: name)
      let isLast = pending.allSatisfy { $0 == "." || $0.isEmpty }
      var status = stat()
      if fstatat(current.descriptor, name, &status, AT_SYMLINK_NOFOLLOW) != 0 {
        guard errno == ENOENT, let mode = creationMode(isLast: isLast) else {
          throw .system(path: path, operation: "stat", errno: errno)
        }
        if mkdirat(current.descriptor, name, mode) != 0 && errno != EEXIST {
          throw .system(path: path, operation: "mkdir", errno: errno)
        }
        // mkdirat's mode passed through the umask; set it exactly (before opening: a umask of 0777 leaves
        // a directory its owner could not open). The entry is in a directory already checked.
        guard fchmodat(current.descriptor, name, mode, 0) == 0 else {
          throw .system(path: path, operation: "chmod", errno: errno)
        }
        pending.append(name)  // opened and checked below, as any existing directory
        continue
      }
      switch status.st_mode & S_IFMT {
      case S_IFLNK:
        guard let root else { throw .unresolvable(path: path, reason: "a symbolic link where a directory must be") }
        try Self.checkOwner(status, path: path, isTarget: false)
        links += 1
        guard links <= Self.maximumLinks else { throw .unresolvable(path: path, reason: "too many symbolic links") }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlinkat(current.descriptor, name, &buffer, buffer.count - 1)
        guard count > 0 else { throw .system(path: path, operation: "readlink", errno: errno) }
        let target = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if target.hasPrefix("/") { stack = [root] }
        pending += target.split(separator: "/").map(String.init).reversed()
      case S_IFDIR:
        var fd = openat(current.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 && errno == EACCES {
          // A directory on the way that the daemon may search but not read (mode 0711): a path descriptor.
          fd = openat(current.descriptor, name, LinuxOpenFlags.pathOnly | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        guard fd >= 0 else { throw .system(path: path, operation: "open", errno: errno) }
        let opened = TrustedDirectory(path: path, descriptor: fd)
        try Self.check(fd, path: path, isTarget: isLast, stickyTarget: stickyTarget)
        stack.append(opened)
      default:
        throw .notADirectory(path: path)
      }
    }
    guard var target = stack.last else { throw .unresolvable(path: "/", reason: "nothing to walk") }
    if fcntl(target.descriptor, F_GETFL) & LinuxOpenFlags.pathOnly != 0 {
      let fd = openat(target.descriptor, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
      guard fd >= 0 else { throw .system(path: target.path, operation: "open", errno: errno) }
      target = TrustedDirectory(path: target.path, descriptor: fd)
    }
    try Self.check(target.descriptor, path: target.path, isTarget: true, stickyTarget: stickyTarget)
    return target
  }

  /// The mode to create a missing component with, or nil when it must exist.
  private func creationMode(isLast: Bool) -> mode_t? {
    switch creation {
    case .none: nil
    case .missingTarget(let mode): isLast ? mode : nil
    case .missingDirectories(let mode): mode
    }
  }

  /// Throws unless the directory open at `fd` may be trusted at its place in the walk.
  private static func check(_ fd: Int32, path: String, isTarget: Bool, stickyTarget: Bool) throws(TrustedDirectoryError)
  {
    var status = stat()
    guard fstat(fd, &status) == 0 else { throw .system(path: path, operation: "stat", errno: errno) }
    let strict = isTarget && !stickyTarget
    try checkOwner(status, path: path, isTarget: strict)
    let writableByOthers = status.st_mode & 0o022 != 0
    let sticky = status.st_mode & S_ISVTX != 0
    if writableByOthers && (strict || !sticky) {
      throw .untrusted(path: path, owner: status.st_uid, mode: status.st_mode, isTarget: strict)
    }
  }

  /// Throws unless `status` belongs to the daemon's user (or, but for a strict target, root).
  private static func checkOwner(_ status: stat, path: String, isTarget: Bool) throws(TrustedDirectoryError) {
    let user = geteuid()
    guard status.st_uid == user || (!isTarget && status.st_uid == 0) else {
      throw .untrusted(path: path, owner: status.st_uid, mode: status.st_mode, isTarget: isTarget)
    }
  }
}
