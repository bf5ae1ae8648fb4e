// ImageResolver.swift: finds a requested image inside the configured image directories, and nowhere else.
import Glibc
import SystemCalls

/// Resolves image paths from requests: only regular files inside an image directory, after every symbolic
/// link is followed, can be used; the file is opened without following links and its opened path checked
/// again, then read once, so the bytes the engine gets are the bytes of the file that was checked.
public struct ImageResolver: Sendable {
  /// The image directories, canonical (symbolic links resolved), in search order.
  public let directories: [String]

  /// A resolver over `directories`; directories that do not exist are left out (the daemon logs them).
  public init(directories: [String]) {
    self.directories = directories.compactMap { Self.canonicalPath($0) }
  }

  /// Resolves and reads `requested`: a path relative to an image directory (searched in order), or an absolute
  /// path inside one. `field` names the request's field in messages (`image`, or `disk.image` for a read-only
  /// disk image, which obeys the same rules).
  public func resolve(_ requested: String, field: String = "image") throws(ControlError) -> ResolvedImage {
    guard !requested.isEmpty else { throw .invalidField(field, "must not be empty") }
    guard requested.utf8.count <= ControlLimits.maximumImagePathBytes else {
      throw .invalidField(field, "is longer than \(ControlLimits.maximumImagePathBytes) bytes")
    }
    guard !requested.utf8.contains(0) else { throw .invalidField(field, "contains a NUL byte") }
    if requested.split(separator: "/", omittingEmptySubsequences: true).contains("..") {
      throw .imageRefused("\(field) '\(requested)': '..' is not allowed in image paths (path traversal)")
    }
    guard !directories.isEmpty else { throw .imageRefused("no image directory is configured on this daemon") }
    let candidates = requested.hasPrefix("/") ? [requested] : directories.map { $0 + "/" + requested }
    for candidate in candidates {
      guard let canonical = Self.canonicalPath(candidate) else { continue }
      guard isInside(canonical) else {
        throw .imageRefused(
          "\(field) '\(requested)' resolves to \(canonical), outside the image directories (a symbolic link escapes them)"
        )
      }
      return try read(canonical, requested: "\(field) '\(requested)'")
    }
    throw .imageRefused(
      "\(field) '\(requested)' was not found in the image directories (\(directories.joined(separator: ", ")))")
  }

  /// True when `path` (canonical) lies strictly inside one of the directories.
  func isInside(_ path: String) -> Bool {
    directories.contains { directory in
      directory == "/" ? path != "/" : path.hasPrefix(directory + "/")
    }
  }

  /// Opens `canonical` without following a final link, checks where the descriptor really points and that it
  /// is a regular file of bounded size, and reads it; `requested` names it in messages (`image 'x.elf'`).
  private func read(_ canonical: String, requested: String) throws(ControlError) -> ResolvedImage {
    let fd = open(canonical, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
    guard fd >= 0 else {
      throw .imageRefused("\(requested) cannot be opened: \(SystemCallError.text(for: errno))")
    }
    defer { close(fd) }
    // A directory on the path could have been swapped for a link between realpath and open: check the file
    // the descriptor actually refers to.
    guard let opened = Self.canonicalPath("/proc/self/fd/\(fd)"), opened == canonical, isInside(opened) else {
      throw .imageRefused("\(requested) changed while it was being opened; try again")
    }
    var status = stat()
    guard fstat(fd, &status) == 0 else {
      throw .imageRefused("\(requested) cannot be examined: \(SystemCallError.text(for: errno))")
    }
    guard status.st_mode & S_IFMT == S_IFREG else {
      throw .imageRefused("\(requested) is not a regular file")
    }
    guard status.st_size <= ControlLimits.maximumImageBytes else {
      throw .imageRefused("\(requested) is larger than \(ControlLimits.maximumImageBytes >> 20) MiB")
    }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      // SAFETY: `chunk` is a live array of chunk.count bytes and read writes at most that many into it.
      let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if count < 0 {
        if errno == EINTR { continue }
        throw .imageRefused("\(requested) cannot be read: \(SystemCallError.text(for: errno))")
      }
      if count == 0 { break }
      bytes.append(contentsOf: chunk[0..<count])
      guard bytes.count <= ControlLimits.maximumImageBytes else {
        throw .imageRefused("\(requested) is larger than \(ControlLimits.maximumImageBytes >> 20) MiB")
      }
    }
    return ResolvedImage(path: canonical, bytes: bytes)
  }

  /// `path` with every symbolic link, `.` and `..` resolved; nil when it does not exist.
  static func canonicalPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    // SAFETY: realpath returned a NUL-terminated string it allocated with malloc; it is copied, then freed once.
    defer { free(resolved) }
    return String(cString: resolved)
  }
}
