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

  /// Words per chunk of the in-run table.
  private static let wordsPerChunk = 1024
  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
  /// The in-run table: one `RunWord` per slot, in chunks that are never moved or freed before the watchdog is, so
  /// a vCPU can keep a pointer to its word. A sweep reads the words in order (10,000 vCPUs: 80 KB, ten sweeps a
  /// second) and looks further only at the few inside `KVM_RUN`. Guarded by `mutex` (the words themselves are
  /// atomic).
  private var chunks: [UnsafeMutablePointer<UInt64>] = []
  /// The kicker registered in each slot (nil: free, or reserved and not yet registered). Guarded by `mutex`.
  private var kickers: [VCPUKicker?] = []
  /// Each slot's word as the previous sweep saw it while its vCPU was inside `KVM_RUN` (0 before that). Guarded
  /// by `mutex`.
  private var lastSeen: [UInt64] = []
  /// Slots free for reuse. Guarded by `mutex`.
  private var freeSlots: [Int] = []
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
    // SAFETY: no thread uses them any more: the sweeping thread holds a reference to self while it runs, and every
    // vCPU (the only writer of a word) keeps its VM and so the watchdog alive.
    pthread_cond_destroy(condition)
    pthread_mutex_destroy(mutex)
    condition.deallocate()
    mutex.deallocate()
    for chunk in chunks { chunk.deallocate() }
  }

  private func withLock<R>(_ body: () -> R) -> R {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return body()
  }

  /// A slot in the in-run table and its word (zero) for a vCPU about to be created; `register` fills it.
  func reserveSlot() -> (slot: Int, word: RunWord) {
    withLock {
      let slot: Int
      if let free = freeSlots.popLast() {
        slot = free
      } else {
        slot = kickers.count
        kickers.append(nil)
        lastSeen.append(0)
        if slot / Self.wordsPerChunk == chunks.count {
          let chunk = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.wordsPerChunk)
          // SAFETY: the chunk was just allocated with this many words; none is shared yet.
          chunk.initialize(repeating: 0, count: Self.wordsPerChunk)
          chunks.append(chunk)
        }
      }
      lastSeen[slot] = 0
      // SAFETY: slot / wordsPerChunk < chunks.count (a chunk was added above when it was not), and the offset is
      // within the chunk.
      let word = RunWord(pointer: chunks[slot / Self.wordsPerChunk] + slot % Self.wordsPerChunk)
      // SAFETY: the word was just located inside a live chunk; no vCPU owns the slot yet.
      ckvm_word_store(word.pointer, 0)
      return (slot, word)
    }
  }

  /// Watches `kicker`'s vCPU (in the slot it reserved) until it is unregistered; starts the thread on first use.
  func register(_ kicker: VCPUKicker) {
    let startThread = withLock { () -> Bool in
      kickers[kicker.watchdogSlot] = kicker
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

  /// Stops watching `kicker`'s vCPU (after its last run) and frees its slot.
  func unregister(_ kicker: VCPUKicker) {
    withLock {
      let slot = kicker.watchdogSlot
      guard slot < kickers.count, kickers[slot] === kicker else { return }
      kickers[slot] = nil
      lastSeen[slot] = 0
      // SAFETY: the word lies in a chunk that lives as long as the watchdog; its vCPU ran for the last time.
      ckvm_word_store(kicker.runWord.pointer, 0)
      freeSlots.append(slot)
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

  /// Kicks every vCPU still in the run it was in at the previous sweep. Reads the in-run table in order and looks
  /// further only at words marked inside `KVM_RUN` (a few, one per thread that runs guests): a word seen while its
  /// vCPU was out of `KVM_RUN` is older than any run it enters later, so keeping it changes no decision.
  private func sweep() {
    for (chunkIndex, chunk) in chunks.enumerated() {
      let first = chunkIndex * Self.wordsPerChunk
      let count = min(Self.wordsPerChunk, kickers.count - first)
      guard count > 0 else { break }
      for offset in 0..<count {
        // SAFETY: offset < wordsPerChunk, inside the chunk; an atomic load.
        let word = ckvm_word_load(chunk + offset)
        guard word & 1 == 1 else { continue }
        let slot = first + offset
        if word == lastSeen[slot] { kickers[slot]?.requestLongRunCheck() }
        lastSeen[slot] = word
      }
    }
  }
}
