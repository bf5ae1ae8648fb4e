// StateDirectoryLock.swift: one engine at a time in a state directory: an exclusive `flock` on a descriptor of
// the directory, held from the engine's making to the end of its stop.
import DenaliCore
import Glibc
import TrustedFiles

/// The exclusive lock of a state directory, released by `release()` or when this goes away.
final class StateDirectoryLock: Sendable {
  /// A descriptor of the directory of its own (its own open file description, so its lock is its own).
  private let descriptor: Locked<Int32>

  /// Takes the lock of `root` (at `path`, for messages). Another engine may still be stopping there (a VM process
  /// of a daemon that died swaps its VMs out before it exits), so this waits up to a minute for it.
  init(_ root: TrustedDirectory, path: String) throws(EngineStartError) {
    let opened = openat(root.descriptor, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard opened >= 0 else {
      throw EngineStartError("state directory \(path): cannot open it to lock it (errno \(errno))")
    }
    let deadline = monotonicNanoseconds() + 60_000_000_000
    while flock(opened, LOCK_EX | LOCK_NB) != 0 {
      guard errno == EWOULDBLOCK || errno == EINTR, monotonicNanoseconds() < deadline else {
        close(opened)
        throw EngineStartError(
          "state directory \(path) is in use by another denalid (its lock was not released within a minute)")
      }
      usleep(50_000)
    }
    descriptor = Locked(opened)
  }

  deinit { release() }

  /// Releases the lock (once; later calls do nothing).
  func release() {
    descriptor.withLock { descriptor in
      guard descriptor >= 0 else { return }
      close(descriptor)
      descriptor = -1
    }
  }
}
