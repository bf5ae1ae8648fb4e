// SiteDirectoryScanner.swift: walks a site directory and lists the regular files a site image will hold,
// refusing what it must not hold (escaping symlinks, special files, bad names, anything past the limits).
import Glibc

/// A regular file found in a site directory.
struct SiteSourceFile: Sendable, Equatable {
  /// Its path in the image: '/' then the path below the site directory.
  let sitePath: String
  /// Where to read it on the host (symbolic links resolved).
  let hostPath: String
  /// Its size when scanned.
  let size: UInt64
  /// Its `DENALI_SITE_TYPE_*` code.
  let contentType: UInt8
}

/// Lists the files of a site directory, in ascending byte order of their site paths.
enum SiteDirectoryScanner {
  /// A directory's identity, to notice one that contains itself through a symbolic link.
  private struct DirectoryIdentity: Hashable {
    let device: UInt64
    let inode: UInt64
  }

  /// The regular files below `directory`. Symbolic links are followed when their target (resolved) lies inside
  /// the directory; every other kind of file, and every name or size past `limits`, is refused.
  static func scan(_ directory: String, limits: SiteImageLimits) throws(SiteImageError) -> [SiteSourceFile] {
    guard let root = resolvedPath(directory) else { throw .notADirectory(path: directory) }
    var status = stat()
    guard stat(root, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else { throw .notADirectory(path: directory) }
    var files: [SiteSourceFile] = []
    var ancestors: Set<DirectoryIdentity> = [identity(status)]
    let inside = root == "/" ? "/" : root + "/"
    try walk(root, sitePrefix: "/", inside: inside, limits: limits, ancestors: &ancestors, files: &files)
    files.sort { $0.sitePath.utf8.lexicographicallyPrecedes($1.sitePath.utf8) }
    return files
  }

  /// Adds the files below the host directory `hostDirectory`, whose site path is `sitePrefix` (ending in '/').
  private static func walk(
    _ hostDirectory: String, sitePrefix: String, inside: String, limits: SiteImageLimits,
    ancestors: inout Set<DirectoryIdentity>, files: inout [SiteSourceFile]
  ) throws(SiteImageError) {
    for nameBytes in try names(in: hostDirectory) {
      let shownName = String(decoding: nameBytes, as: UTF8.self)
      let hostPath = hostDirectory == "/" ? "/" + shownName : hostDirectory + "/" + shownName
      guard isAcceptableName(nameBytes), let name = String(validating: nameBytes, as: UTF8.self) else {
        throw .badName(path: hostPath)
      }
      let sitePath = sitePrefix + name
      guard sitePath.utf8.count <= limits.pathLength else {
        throw .pathTooLong(path: hostPath, length: sitePath.utf8.count, limit: limits.pathLength)
      }
      var status = stat()
      guard lstat(hostPath, &status) == 0 else { throw .system(path: hostPath, operation: "lstat", errno: errno) }
      var target = hostPath
      if status.st_mode & S_IFMT == S_IFLNK {
        guard let resolved = resolvedPath(hostPath), stat(resolved, &status) == 0 else {
          throw .brokenSymlink(path: hostPath)
        }
        guard resolved.hasPrefix(inside) || resolved + "/" == inside else {
          throw .symlinkEscapes(path: hostPath, target: resolved)
        }
        target = resolved
      }
      switch status.st_mode & S_IFMT {
      case S_IFDIR:
        // A subdirectory's files have paths at least two bytes longer ("/" and a name).
        guard sitePath.utf8.count + 2 <= limits.pathLength else {
          throw .pathTooLong(path: hostPath, length: sitePath.utf8.count + 2, limit: limits.pathLength)
        }
        let directory = identity(status)
        guard ancestors.insert(directory).inserted else { throw .directoryCycle(path: hostPath) }
        try walk(
          target, sitePrefix: sitePath + "/", inside: inside, limits: limits, ancestors: &ancestors, files: &files)
        ancestors.remove(directory)
      case S_IFREG:
        guard files.count < limits.files else { throw .tooManyFiles(limit: limits.files) }
        let size = UInt64(status.st_size)
        guard size <= limits.fileSize else { throw .fileTooLarge(path: hostPath, size: size, limit: limits.fileSize) }
        files.append(
          SiteSourceFile(
            sitePath: sitePath, hostPath: target, size: size, contentType: SiteContentType.code(forName: name)))
      default:
        throw .notARegularFile(path: hostPath, kind: kindName(status.st_mode & S_IFMT))
      }
    }
  }

  /// The names in a directory, as bytes, without "." and "..".
  private static func names(in directory: String) throws(SiteImageError) -> [[UInt8]] {
    guard let stream = opendir(directory) else { throw .system(path: directory, operation: "opendir", errno: errno) }
    defer { closedir(stream) }
    var names: [[UInt8]] = []
    while true {
      errno = 0
      guard let entry = readdir(stream) else {
        if errno != 0 { throw .system(path: directory, operation: "readdir", errno: errno) }
        return names
      }
      // d_name is a NUL-terminated array of 256 bytes inside the entry, valid until the next readdir on this stream.
      let name = withUnsafeBytes(of: &entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
      if name != Array(".".utf8) && name != Array("..".utf8) { names.append(name) }
    }
  }

  /// True for a name a request can reach: neither empty nor "." nor "..", no control byte, no backslash (UTF-8
  /// is checked apart).
  static func isAcceptableName(_ name: [UInt8]) -> Bool {
    !name.isEmpty && name != Array(".".utf8) && name != Array("..".utf8)
      && !name.contains { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\\") }
  }

  /// `path` with every symbolic link resolved, or nil.
  private static func resolvedPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
  }

  /// The identity of the file `status` describes.
  private static func identity(_ status: stat) -> DirectoryIdentity {
    DirectoryIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
  }

  /// A readable name for a file type.
  private static func kindName(_ type: mode_t) -> String {
    switch type {
    case S_IFIFO: "FIFO"
    case S_IFSOCK: "socket"
    case S_IFCHR: "character device"
    case S_IFBLK: "block device"
    default: "file of unknown type"
    }
  }
}
