// VCPUKicker.swift: forces a vCPU out of KVM_RUN from another thread (immediate_exit plus a signal), for its
// owner (preemption, timeouts) or for the run watchdog.
import CKVM
import Glibc
import Synchronization

/// Forces a vCPU out of `KVM_RUN` from any thread; the vCPU's `run()` then returns `.interrupted` (or
/// `.longRun` when only the run watchdog asked).
public final class VCPUKicker: Sendable {
  private let mapping: RunMapping
  private let runningThread = Atomic<UInt>(0)
  /// Where the run watchdog reads whether this vCPU is inside `KVM_RUN`, and in which run.
  let runWord: RunWord
  /// The vCPU's place in the run watchdog's table.
  let watchdogSlot: Int
  /// Set by `requestExit()` until the run it ends takes it.
  private let exitRequested = Atomic<Bool>(false)
  /// Set by the run watchdog until the run it ends takes it.
  private let checkRequested = Atomic<Bool>(false)

  init(mapping: RunMapping, runWord: RunWord, watchdogSlot: Int) {
    self.mapping = mapping
    self.runWord = runWord
    self.watchdogSlot = watchdogSlot
  }

  func enter() {
    runWord.enter()
    runningThread.store(UInt(pthread_self()), ordering: .sequentiallyConsistent)
  }

  func leave() {
    runningThread.store(0, ordering: .sequentiallyConsistent)
    runWord.leave()
  }

  /// Makes the current or next `KVM_RUN` of this vCPU return as soon as possible.
  public func requestExit() {
    exitRequested.store(true, ordering: .sequentiallyConsistent)
    kick()
  }

  /// For the run watchdog: ends the current run so that its owner can look at the vCPU.
  func requestLongRunCheck() {
    checkRequested.store(true, ordering: .sequentiallyConsistent)
    kick()
  }

  /// Takes (and clears) the reasons a run was ended: an owner's request, a watchdog's.
  func takeReasons() -> (exit: Bool, check: Bool) {
    (
      exitRequested.exchange(false, ordering: .sequentiallyConsistent),
      checkRequested.exchange(false, ordering: .sequentiallyConsistent)
    )
  }

  private func kick() {
    ckvm_run_set_immediate_exit(mapping.run, 1)
    let thread = runningThread.load(ordering: .sequentiallyConsistent)
    if thread != 0 {
      pthread_kill(pthread_t(thread), KVMSystem.kickSignal)
    }
  }
}
