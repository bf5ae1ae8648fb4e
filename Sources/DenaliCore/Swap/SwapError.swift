// SwapError.swift: why a swap file could not be written or loaded.
import Glibc
import TrustedFiles

/// A swap-file failure; `description` is a one-line message.
public enum SwapError: Error, Equatable, CustomStringConvertible {
  /// A system call failed (for example ENOSPC for a full disk, or EIO).
  case system(path: String, operation: String, errno: Int32)
  /// The file exists but holds no complete, intact image; it is not loaded.
  case corrupt(path: String, reason: String)
  /// KVM refused to recreate or restore the VM's objects.
  case host(String)
  /// The swap directory was refused or could not be opened.
  case directory(TrustedDirectoryError)

  /// A one-line message.
  public var description: String {
    switch self {
    case .system(let path, let operation, let errno):
      "swap file \(path): \(operation) failed: \(String(cString: strerror(errno)))"
    case .corrupt(let path, let reason): "swap file \(path) is corrupt and was not loaded: \(reason)"
    case .host(let message): "restoring the VM failed: \(message)"
    case .directory(let error): "swap directory: \(error)"
    }
  }

  /// True for a full disk (the swap-out is retried later; the VM stays resident).
  public var isNoSpace: Bool {
    if case .system(_, _, let errno) = self { return errno == ENOSPC || errno == EDQUOT }
    return false
  }
}
