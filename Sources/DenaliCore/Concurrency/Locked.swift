// Locked.swift: state reachable only while its pthread mutex is held (a lock ThreadSanitizer understands).
import Glibc

/// A value guarded by a mutex: the only way to it is `withLock`, so the compiler checks what a "guarded by"
/// comment would only claim. A pthread mutex underneath, not `Synchronization.Mutex` (a futex ThreadSanitizer
/// does not model on Linux, so every access inside one reads to it as a race).
public final class Locked<State>: @unchecked Sendable {
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  // SAFETY: read and written only between pthread_mutex_lock and pthread_mutex_unlock in `withLock`. The byte
  // beside the state gives an empty State (Locked<Void>, a plain lock) an address of its own: a zero-sized
  // property shared the `mutex` field's address, and ThreadSanitizer took the unlocked read of that field for
  // a race with the state's locked access.
  private var storage: (state: State, separator: UInt8)

  /// `initial`, guarded by a new mutex.
  public init(_ initial: State) {
    storage = (initial, 0)
    mutex = .allocate(capacity: 1)
    // SAFETY: freshly allocated; initialised before any use, destroyed and freed in deinit.
    pthread_mutex_init(mutex, nil)
  }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
  }

  /// Runs `body` on the state with the mutex held. `body` must not call `withLock` on the same value.
  public func withLock<R, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return try body(&storage.state)
  }
}
