// RunWord.swift: where one vCPU tells the run watchdog whether it is inside KVM_RUN, and in which run: a word in
// the watchdog's contiguous table, so that a sweep reads one table instead of every vCPU's object.
import CKVM

/// A vCPU's word in the run watchdog's table: its count of `KVM_RUN` calls shifted left by one, plus 1 while it is
/// inside one. Only the thread running the vCPU writes it; the watchdog's sweep reads it.
struct RunWord: @unchecked Sendable {
  // SAFETY: `pointer` is one word of a chunk the watchdog allocated; the chunk is freed only when the watchdog is
  // (the vCPU keeps its VM, and so the watchdog, alive while it can run), and the word is reused only after the
  // vCPU's unregistration, which comes after its last run. Writes and the sweep's reads are atomic.
  let pointer: UnsafeMutablePointer<UInt64>

  /// Marks entering a new `KVM_RUN` (called by the thread that runs the vCPU).
  func enter() {
    // SAFETY: see the type: the word is live and only this thread writes it.
    let runs = (ckvm_word_load(pointer) >> 1) &+ 1
    ckvm_word_store(pointer, runs << 1 | 1)
  }

  /// Marks leaving `KVM_RUN` (called by the thread that runs the vCPU).
  func leave() {
    // SAFETY: as in `enter`.
    ckvm_word_store(pointer, ckvm_word_load(pointer) & ~1)
  }

  /// The word as the watchdog's sweep sees it.
  var value: UInt64 {
    // SAFETY: as in `enter`; an atomic load.
    ckvm_word_load(pointer)
  }
}
