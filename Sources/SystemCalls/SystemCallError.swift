// SystemCallError.swift: one failed system call, with what it was applied to: the one error type every layer
// above the KVM wrapper uses for a host failure (a file, a socket, a capability), so none re-formats errno.
import Glibc

/// A system call that failed: the operation (`open`, `fsync`, `bind`, ...), what it was applied to, and errno.
public struct SystemCallError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
  /// What the call was applied to (a path, an interface name), if anything.
  public let path: String?
  /// The call, or the step that failed (`open`, `read`, `TUNSETIFF`).
  public let operation: String
  /// The errno it failed with.
  public let errno: Int32

  /// A failure of `operation` on `path` with `errno`.
  public init(path: String?, operation: String, errno: Int32) {
    self.path = path
    self.operation = operation
    self.errno = errno
  }

  /// The failure of `operation` on `path` that just happened (the calling thread's errno).
  public static func last(path: String?, operation: String) -> SystemCallError {
    SystemCallError(path: path, operation: operation, errno: Glibc.errno)
  }

  /// True for a full disk or an exhausted quota.
  public var isNoSpace: Bool { errno == ENOSPC || errno == EDQUOT }

  /// The errno's text (`No such file or directory`).
  public var reason: String { Self.text(for: errno) }

  /// `PATH: OPERATION failed: REASON`, or without the path when there is none.
  public var description: String {
    "\(path.map { "\($0): " } ?? "")\(operation) failed: \(reason)"
  }

  /// The text of `errno` (thread-safe: `strerror_r`, copied at once).
  public static func text(for errno: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    // SAFETY: the XSI strerror_r writes a NUL-terminated text of at most `storage.count` bytes into `buffer`,
    // which is copied into a Swift String before `buffer` goes away.
    return buffer.withUnsafeMutableBufferPointer { storage in
      guard let base = storage.baseAddress, strerror_r(errno, base, storage.count) == 0 else { return "errno \(errno)" }
      return String(cString: base)
    }
  }
}
