// KVMError.swift: a failed KVM ioctl or system call, naming the operation and errno.
import Glibc
import SystemCalls

/// A failed KVM ioctl or system call; the description names the operation and the errno.
public struct KVMError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The ioctl or call that failed, for example `KVM_CREATE_VM`.
  public let operation: String
  /// The errno it failed with.
  public let errno: Int32

  /// Creates an error for `operation` failing with `errno`.
  public init(operation: String, errno: Int32) {
    self.operation = operation
    self.errno = errno
  }

  /// Captures the calling thread's current errno for `operation`.
  static func last(_ operation: String) -> KVMError {
    KVMError(operation: operation, errno: Glibc.errno)
  }

  /// A one-line message: operation, strerror text and errno number.
  public var description: String {
    "\(operation) failed: \(SystemCallError.text(for: errno)) (errno \(errno))"
  }
}
