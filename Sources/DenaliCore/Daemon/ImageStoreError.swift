// ImageStoreError.swift: why the image store could not keep or give back an image.
import Glibc
import SystemCalls
import TrustedFiles

/// An image-store failure; `description` is a one-line message saying what failed and where.
public enum ImageStoreError: Error, CustomStringConvertible, Equatable {
  /// A system call on `path` failed (ENOSPC for a full disk, EIO, EACCES, ...).
  case system(SystemCallError)
  /// The store's path exists but is not a directory.
  case notADirectory(path: String)
  /// A key that the store could never have made (empty, or with characters other than 0-9, a-f and "-").
  case badKey(String)
  /// No image is stored under `key`.
  case missing(key: String, path: String)
  /// The store's directory was refused or could not be opened.
  case directory(TrustedDirectoryError)

  /// A one-line message.
  public var description: String {
    switch self {
    case .system(let failure): "image store \(failure)"
    case .notADirectory(let path): "image store \(path) is not a directory"
    case .badKey(let key): "image store: \"\(key)\" is not an image key"
    case .missing(let key, let path): "image store: no image \(key) (\(path) is missing)"
    case .directory(let error): "image store: \(error)"
    }
  }
}

extension ImageStoreError {
  /// A failure of `operation` on `path` with `errno`.
  public static func system(path: String, operation: String, errno: Int32) -> Self {
    .system(SystemCallError(path: path, operation: operation, errno: errno))
  }
}
