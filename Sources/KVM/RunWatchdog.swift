// RunWatchdog.swift: finds vCPUs that stay inside one KVM_RUN for a whole period and kicks them, so that their
// owner can see whether the guest still makes progress (KVM can retry a guest instruction forever without an
// exit, for example a descriptor read from guest-physical memory no slot backs).
import CKVM
import Glibc
import ThreadConfinement

/// One thread per `KVMSystem`, started with its first vCPU: every `period` it kicks each vCPU that has been
/// inside the same `KVM_RUN` since the previous sweep. The kicked `run()` returns `.longRun`. A vCPU that exits
/// on its own at least once per period is never kicked; one that never exits is kicked once or twice a period.
final class RunWatchdog: @unchecked Sendable {
  /// How often the watchdog sweeps, nanoseconds.
  let periodNanoseconds: UInt64

  /// A registered vCPU: its kicker (held until it is unregistered, which its vCPU does as it goes) and the run
  /// count the previous sweep saw.
  private struct Entry {
    let kicker: VCPUKicker
    var lastRuns: UInt64
  }

  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
  /// The registered vCPUs, in no order: a sweep is a plain walk over an array (with 10,000 vCPUs, ten sweeps a
  /// second). Guarded by `mutex`.
  private var entries: [Entry] = []
  /// Where each registered kicker is in `entries`. Guarded by `mutex`.
  private var positions: [ObjectIdentifier: Int] = [:]
  /// Guarded by `mutex`.
  private var started = false
  /// Guarded by `mutex`.
  private var stopping = false

  init(periodNanoseconds: UInt64) {
    self.periodNanoseconds = max(periodNanoseconds, 1_000_000)
    // SAFETY: both pointers were just allocated for one object each and are initialized once here.
    pthread_mutex_init(mutex, nil)
    var attributes = pthread_condattr_t()
    pthread_condattr_init(&attributes)
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
    pthread_cond_init(condition, &attributes)
    pthread_condattr_destroy(&attributes)
  }

  deinit {
    // SAFETY: no thread uses them any more: the sweeping thread holds a reference to self while it runs.
    pthread_cond_destroy(condition)
    pthread_mutex_destroy(mutex)
    condition.deallocate()
    mutex.deallocate()
  }

  private func withLock<R>(_ body: () -> R) -> R {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return body()
  }

  /// Watches `kicker`'s vCPU until it is unregistered; starts the thread on first use.
  func register(_ kicker: VCPUKicker) {
    let startThread = withLock { () -> Bool in
      if positions[ObjectIdentifier(kicker)] == nil {
        positions[ObjectIdentifier(kicker)] = entries.count
        entries.append(Entry(kicker: kicker, lastRuns: kicker.snapshot().runs))
      }
      defer { started = true }
      return !started && !stopping
    }
    if startThread { start() }
  }

  /// Starts the thread now rather than with the first vCPU (so that it is not created by a thread whose seccomp
  /// filter forbids creating threads).
  func startEarly() {
    let startThread = withLock { () -> Bool in
      defer { started = true }
      return !started && !stopping
    }
    if startThread { start() }
  }

  /// Stops watching `kicker`'s vCPU (the last entry takes its place).
  func unregister(_ kicker: VCPUKicker) {
    withLock {
      guard let position = positions.removeValue(forKey: ObjectIdentifier(kicker)) else { return }
      let last = entries.removeLast()
      if position < entries.count {
        entries[position] = last
        positions[ObjectIdentifier(last.kicker)] = position
      }
    }
  }

  /// Ends the thread (at its next wake-up, at once).
  func stop() {
    withLock {
      stopping = true
      pthread_cond_broadcast(condition)
    }
  }

  private func start() {
    // The thread keeps the watchdog alive until it stops.
    if !DetachedThread.start({ self.loop() }) { withLock { started = false } }
  }

  private func loop() {
    ThreadConfinement.enter(.watchdog)
    withLock {
      while !stopping {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let total = UInt64(deadline.tv_nsec) + periodNanoseconds
        deadline.tv_sec += Int(total / 1_000_000_000)
        deadline.tv_nsec = Int(total % 1_000_000_000)
        while !stopping {
          // SAFETY: the mutex is held (withLock), as pthread_cond_timedwait requires.
          if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        if !stopping { sweep() }
      }
    }
  }

  /// Kicks every vCPU still in the run it was in at the previous sweep. Only vCPUs inside `KVM_RUN` now (a
  /// few, one per thread that runs guests) are looked at further: a run count recorded while a vCPU was out of
  /// `KVM_RUN` is older than any run it enters later, so keeping it changes no decision.
  private func sweep() {
    entries.withUnsafeMutableBufferPointer { entries in
      for index in entries.indices where entries[index].kicker.isInRun {
        let now = entries[index].kicker.snapshot()
        if now.inRun && now.runs == entries[index].lastRuns { entries[index].kicker.requestLongRunCheck() }
        entries[index].lastRuns = now.runs
      }
    }
  }
}
