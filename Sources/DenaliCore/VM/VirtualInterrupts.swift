// VirtualInterrupts.swift: a VM's pending virtual-interrupt mask, and the wait an idling VM blocks in.
import Glibc
import Synchronization

/// The pending-interrupt bits of one VM (batched: delivered when the VM next idles or is entered),
/// and a monotonic-clock wait that any thread can cut short by raising a bit or calling `wake()`.
public final class VirtualInterrupts: @unchecked Sendable {
  private let pending = Atomic<UInt64>(0)
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let condition: UnsafeMutablePointer<pthread_cond_t>
  private var woken = false

  /// An empty mask.
  public init() {
    mutex = .allocate(capacity: 1)
    condition = .allocate(capacity: 1)
    // SAFETY: both pointers were just allocated and are initialised here before any use.
    pthread_mutex_init(mutex, nil)
    var attributes = pthread_condattr_t()
    pthread_condattr_init(&attributes)
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
    pthread_cond_init(condition, &attributes)
    pthread_condattr_destroy(&attributes)
  }

  deinit {
    pthread_cond_destroy(condition)
    pthread_mutex_destroy(mutex)
    condition.deallocate()
    mutex.deallocate()
  }

  /// The bits pending now.
  public var current: UInt64 { pending.load(ordering: .acquiring) }

  /// Sets `bits` and wakes the VM if it is idling.
  public func raise(_ bits: UInt64) {
    pending.bitwiseOr(bits, ordering: .acquiringAndReleasing)
    pthread_mutex_lock(mutex)
    pthread_cond_broadcast(condition)
    pthread_mutex_unlock(mutex)
  }

  /// Returns the pending bits and clears them (delivery).
  func take() -> UInt64 { pending.exchange(0, ordering: .acquiringAndReleasing) }

  /// Ends the current or next `wait` early (for example when the VM's timeout passes).
  public func wake() {
    pthread_mutex_lock(mutex)
    woken = true
    pthread_cond_broadcast(condition)
    pthread_mutex_unlock(mutex)
  }

  /// Blocks until a bit is pending, `wake()` is called, or CLOCK_MONOTONIC reaches `deadline` (nanoseconds;
  /// nil = no deadline). Returns true when the deadline passed.
  func wait(untilMonotonicNanoseconds deadline: UInt64?) -> Bool {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    while current == 0 && !woken {
      if let deadline {
        if monotonicNanoseconds() >= deadline { return true }
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_cond_timedwait(condition, mutex, &time)
      } else {
        pthread_cond_wait(condition, mutex)
      }
    }
    woken = false
    return false
  }
}

/// CLOCK_MONOTONIC in nanoseconds.
func monotonicNanoseconds() -> UInt64 {
  var time = timespec()
  clock_gettime(CLOCK_MONOTONIC, &time)
  return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// CLOCK_REALTIME in nanoseconds since the Unix epoch.
func wallClockNanoseconds() -> UInt64 {
  var time = timespec()
  clock_gettime(CLOCK_REALTIME, &time)
  return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}
