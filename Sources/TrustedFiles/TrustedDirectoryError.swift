// TrustedDirectoryError.swift: why a directory the daemon would write in was refused or could not be opened.
import Glibc
import SystemCalls

/// A directory refused or not opened; `description` names the directory, its owner and mode, and the rule.
public enum TrustedDirectoryError: Error, Equatable, Sendable, CustomStringConvertible {
  /// `path` (the directory itself, or a directory or link on the way to it) may be changed by a user other than
  /// root and the daemon's: it belongs to `owner`, or `mode` lets group or others write it.
  case untrusted(path: String, owner: UInt32, mode: UInt32, isTarget: Bool)
  /// Something other than a directory (or a symbolic link to one) is at `path`.
  case notADirectory(path: String)
  /// More than 40 symbolic links on the way, or a path that is empty.
  case unresolvable(path: String, reason: String)
  /// A system call on the directory, or on the way to it, failed.
  case system(SystemCallError)

  /// A failure of `operation` on `path` with `errno`.
  public static func system(path: String, operation: String, errno: Int32) -> Self {
    .system(SystemCallError(path: path, operation: operation, errno: errno))
  }

  /// The errno of a failed system call, else nil.
  public var errno: Int32? {
    if case .system(let failure) = self { return failure.errno }
    return nil
  }

  /// A one-line message.
  public var description: String {
    switch self {
    case .untrusted(let path, let owner, let mode, let isTarget):
      let modeText = "0" + String(mode & 0o7777, radix: 8)
      let rule =
        isTarget
        ? "a directory the daemon writes must belong to uid \(geteuid()) (the daemon's user) and not be writable by group or others"
        : "every directory and symbolic link on its path must belong to root or uid \(geteuid()) (the daemon's user), and a directory on the path may be writable by group or others only with the sticky bit"
      return
        "refusing \(path): it belongs to uid \(owner) and has mode \(modeText); \(rule) (another user could otherwise plant files or links the daemon would write through)"
    case .notADirectory(let path): return "\(path) is not a directory"
    case .unresolvable(let path, let reason): return "cannot resolve \(path): \(reason)"
    case .system(let failure): return failure.description
    }
  }
}
