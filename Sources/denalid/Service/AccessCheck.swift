// AccessCheck.swift: after the capability drop, checks that the daemon can still use its state directory and
// read its image directories, so that a directory only root's capabilities could reach fails at start with
// a clear message instead of failing every create and every swap-out later.
import Glibc
import SystemCalls

/// What the daemon needs of its directories once it has no capability left.
enum AccessCheck {
  /// A directory the daemon cannot use as it needs to.
  struct Failure: Error, CustomStringConvertible {
    /// The message.
    let description: String
  }

  /// Throws unless every one of `directories` is searchable and writable without capabilities. Run after
  /// `Privileges.drop()`: `faccessat(AT_EACCESS)` then answers for the daemon's effective ids alone.
  static func requireWritable(_ directories: [String]) throws(Failure) {
    for directory in directories where faccessat(AT_FDCWD, directory, W_OK | X_OK, AT_EACCESS) != 0 {
      let reason = errno
      throw Failure(
        description:
          "the state directory \(directory) is not writable by the daemon without capabilities (\(SystemCallError.text(for: reason))): \(describe(directory)); every directory on its path must be searchable and it must be writable by uid \(geteuid())"
      )
    }
  }

  /// Returns a warning for each image directory that is missing, and throws for one that exists but that the
  /// daemon cannot read without capabilities.
  static func requireReadable(imageDirectories: [String]) throws(Failure) -> [String] {
    var warnings: [String] = []
    for directory in imageDirectories where faccessat(AT_FDCWD, directory, R_OK | X_OK, AT_EACCESS) != 0 {
      let reason = errno
      guard reason != ENOENT else {
        warnings.append(
          "the image directory \(directory) does not exist: no image can be created from it until it does")
        continue
      }
      throw Failure(
        description:
          "the image directory \(directory) is not readable by the daemon without capabilities (\(SystemCallError.text(for: reason))): \(describe(directory)); it and every directory on its path must be readable by uid \(geteuid())"
      )
    }
    return warnings
  }

  /// "owner uid U, mode 0NNN" of `path`, or why it cannot be read.
  private static func describe(_ path: String) -> String {
    var status = stat()
    guard stat(path, &status) == 0 else { return "cannot stat it: \(SystemCallError.text(for: errno))" }
    return "owner uid \(status.st_uid), group \(status.st_gid), mode 0\(String(status.st_mode & 0o7777, radix: 8))"
  }
}
