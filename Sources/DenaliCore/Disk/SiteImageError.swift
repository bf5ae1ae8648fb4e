// SiteImageError.swift: why `denalid disk pack` refuses a site directory or cannot write its image.
import Glibc
import SystemCalls

/// Why a site image cannot be made; `description` is a one-line message naming the file at fault.
public enum SiteImageError: Error, Equatable, CustomStringConvertible {
  /// The site directory is missing or not a directory.
  case notADirectory(path: String)
  /// A file or directory name the image cannot hold: not UTF-8, a control byte, or a backslash.
  case badName(path: String)
  /// A path (leading '/' included) longer than the limit.
  case pathTooLong(path: String, length: Int, limit: Int)
  /// More files than the limit.
  case tooManyFiles(limit: Int)
  /// A file larger than the limit.
  case fileTooLarge(path: String, size: UInt64, limit: UInt64)
  /// The image would be larger than the limit.
  case imageTooLarge(bytes: UInt64, limit: UInt64)
  /// A symbolic link whose target lies outside the site directory.
  case symlinkEscapes(path: String, target: String)
  /// A symbolic link whose target does not exist (or cannot be resolved).
  case brokenSymlink(path: String)
  /// Something other than a regular file or a directory (a FIFO, socket or device).
  case notARegularFile(path: String, kind: String)
  /// A directory that contains itself through a symbolic link.
  case directoryCycle(path: String)
  /// Two paths with the same 64-bit path hash (rename one).
  case hashCollision(path: String, other: String)
  /// A file changed size (or type) between the scan and the copy.
  case changedWhilePacking(path: String)
  /// The output file lies inside the site directory, so it would pack itself.
  case outputInsideSite(path: String)
  /// A system call failed.
  case system(SystemCallError)

  /// True when the input was refused (the command's usage status, 2); false for a failure of the host (1).
  public var isRefusal: Bool {
    if case .system = self { return false }
    return true
  }

  /// A one-line message.
  public var description: String {
    switch self {
    case .notADirectory(let path): "\(path): not a directory"
    case .badName(let path): "\(path): a name must be UTF-8 without control bytes or backslashes"
    case .pathTooLong(let path, let length, let limit): "\(path): path of \(length) bytes is longer than \(limit)"
    case .tooManyFiles(let limit): "more than \(limit) files"
    case .fileTooLarge(let path, let size, let limit): "\(path): \(size) bytes is larger than \(limit)"
    case .imageTooLarge(let bytes, let limit): "the image would be \(bytes) bytes, more than \(limit)"
    case .symlinkEscapes(let path, let target): "\(path): symbolic link to \(target), outside the site directory"
    case .brokenSymlink(let path): "\(path): symbolic link to nothing"
    case .notARegularFile(let path, let kind): "\(path): a \(kind), not a regular file or directory"
    case .directoryCycle(let path): "\(path): the directory contains itself through a symbolic link"
    case .hashCollision(let path, let other): "\(path) and \(other) have the same path hash: rename one"
    case .changedWhilePacking(let path): "\(path): changed while it was packed"
    case .outputInsideSite(let path): "\(path): the output must not be inside the site directory"
    case .system(let failure): failure.description
    }
  }
}

extension SiteImageError {
  /// A failure of `operation` on `path` with `errno`.
  public static func system(path: String, operation: String, errno: Int32) -> Self {
    .system(SystemCallError(path: path, operation: operation, errno: errno))
  }
}
