// PThreadLock.swift: a pthread mutex for the confinement settings (this module depends on nothing but CSeccomp).
import Glibc

/// A heap-allocated pthread mutex (ThreadSanitizer models it, unlike Synchronization.Mutex's futex on Linux).
final class PThreadLock: @unchecked Sendable {
  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

  init() {
    // SAFETY: the pointer was just allocated for one mutex and is initialized once here.
    pthread_mutex_init(mutex, nil)
  }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
  }

  /// Runs `body` with the mutex held.
  func withLock<R>(_ body: () throws -> R) rethrows -> R {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return try body()
  }
}
