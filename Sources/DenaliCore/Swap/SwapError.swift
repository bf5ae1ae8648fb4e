// SwapError.swift: why a swap file could not be written or loaded.
import Glibc
import KVM
import SystemCalls
import TrustedFiles

/// A swap-file failure; `description` is a one-line message.
public enum SwapError: Error, Equatable, CustomStringConvertible {
  /// A system call failed (for example ENOSPC for a full disk, or EIO).
  case system(SystemCallError)
  /// The file exists but holds no complete, intact image; it is not loaded.
  case corrupt(path: String, reason: String)
  /// KVM refused to recreate or restore the VM's objects.
  case kvm(KVMError)
  /// The VM is not in memory (a swap-out of a VM that is not resident).
  case notResident(vmID: UInt64)
  /// The VM has no swap image to swap in.
  case noImage(vmID: UInt64)
  /// The swap directory was refused or could not be opened.
  case directory(TrustedDirectoryError)

  /// A one-line message.
  public var description: String {
    switch self {
    case .system(let failure): "swap file \(failure)"
    case .corrupt(let path, let reason): "swap file \(path) is corrupt and was not loaded: \(reason)"
    case .kvm(let error): "restoring the VM failed: \(error)"
    case .notResident(let id): "vm \(id) is not in memory"
    case .noImage(let id): "vm \(id) has no swap image"
    case .directory(let error): "swap directory: \(error)"
    }
  }

  /// True for a full disk (the swap-out is retried later; the VM stays resident).
  public var isNoSpace: Bool {
    if case .system(let failure) = self { return failure.isNoSpace }
    return false
  }

  /// A failure of `operation` on `path` with `errno`.
  public static func system(path: String, operation: String, errno: Int32) -> Self {
    .system(SystemCallError(path: path, operation: operation, errno: errno))
  }
}
