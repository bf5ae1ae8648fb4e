// VCPUKicker.swift: forces a vCPU out of KVM_RUN from another thread (immediate_exit plus a signal).
import CKVM
import Glibc
import Synchronization

/// Forces a vCPU out of `KVM_RUN` from any thread; the vCPU's `run()` then returns `.interrupted`.
public final class VCPUKicker: Sendable {
  private let mapping: RunMapping
  private let runningThread = Atomic<UInt>(0)

  init(mapping: RunMapping) { self.mapping = mapping }

  func enter() { runningThread.store(UInt(pthread_self()), ordering: .sequentiallyConsistent) }

  func leave() { runningThread.store(0, ordering: .sequentiallyConsistent) }

  /// Makes the current or next `KVM_RUN` of this vCPU return as soon as possible.
  public func requestExit() {
    ckvm_run_set_immediate_exit(mapping.run, 1)
    let thread = runningThread.load(ordering: .sequentiallyConsistent)
    if thread != 0 {
      pthread_kill(pthread_t(thread), KVMSystem.kickSignal)
    }
  }
}
