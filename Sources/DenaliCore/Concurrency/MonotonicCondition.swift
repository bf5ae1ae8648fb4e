// MonotonicCondition.swift: a mutex with condition variables whose timed waits use CLOCK_MONOTONIC.
import Glibc

/// A pthread mutex and any number of condition variables on CLOCK_MONOTONIC (immune to wall-clock jumps).
final class MonotonicCondition: @unchecked Sendable {
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let conditions: [UnsafeMutablePointer<pthread_cond_t>]

  /// A mutex with `count` condition variables, numbered from 0.
  init(conditions count: Int = 1) {
    mutex = .allocate(capacity: 1)
    // SAFETY: freshly allocated, initialised before any use, destroyed and freed in deinit.
    pthread_mutex_init(mutex, nil)
    var attributes = pthread_condattr_t()
    pthread_condattr_init(&attributes)
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
    conditions = (0..<count).map { _ in
      let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
      pthread_cond_init(condition, &attributes)
      return condition
    }
    pthread_condattr_destroy(&attributes)
  }

  deinit {
    for condition in conditions {
      pthread_cond_destroy(condition)
      condition.deallocate()
    }
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
  }

  /// Runs `body` with the mutex held.
  func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return try body()
  }

  /// Waits on condition `index` (the mutex must be held) until signalled or CLOCK_MONOTONIC reaches
  /// `deadline` nanoseconds (nil: no deadline). Spurious wake-ups are possible: re-check the predicate.
  func wait(_ index: Int = 0, untilMonotonicNanoseconds deadline: UInt64?) {
    if let deadline {
      var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
      pthread_cond_timedwait(conditions[index], mutex, &time)
    } else {
      pthread_cond_wait(conditions[index], mutex)
    }
  }

  /// Wakes one waiter on condition `index` (call with the mutex held or not).
  func signal(_ index: Int = 0) { pthread_cond_signal(conditions[index]) }

  /// Wakes every waiter on condition `index`.
  func broadcast(_ index: Int = 0) { pthread_cond_broadcast(conditions[index]) }
}
