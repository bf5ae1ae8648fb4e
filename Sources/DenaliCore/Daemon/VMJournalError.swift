// VMJournalError.swift: why the VM journal could not be opened, appended to or rewritten.
import Glibc
import SystemCalls
import TrustedFiles

/// A VM-journal failure; `description` is a one-line message saying what failed and where.
public enum VMJournalError: Error, CustomStringConvertible, Equatable {
  /// A system call on `path` failed (ENOSPC for a full disk, EIO, EACCES, ...).
  case system(SystemCallError)
  /// An entry could not be encoded as JSON (a non-finite time, for example); nothing was written.
  case encoding(path: String, reason: String)
  /// The journal was closed.
  case closed(path: String)
  /// The journal's directory was refused or could not be opened.
  case directory(TrustedDirectoryError)

  /// A one-line message.
  public var description: String {
    switch self {
    case .system(let failure): "VM journal \(failure)"
    case .encoding(let path, let reason): "VM journal \(path): an entry could not be encoded: \(reason)"
    case .closed(let path): "VM journal \(path) is closed"
    case .directory(let error): "VM journal: \(error)"
    }
  }

  /// True for a full disk or an exceeded quota.
  public var isNoSpace: Bool {
    if case .system(let failure) = self { return failure.isNoSpace }
    return false
  }
}

extension VMJournalError {
  /// A failure of `operation` on `path` with `errno`.
  public static func system(path: String, operation: String, errno: Int32) -> Self {
    .system(SystemCallError(path: path, operation: operation, errno: errno))
  }
}
