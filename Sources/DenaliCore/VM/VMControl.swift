// VMControl.swift: the thread-safe handle on a VM: expire its timeout, preempt it, wake it from idle.
import KVM
import Synchronization

/// Controls a VM from any thread while another thread may be running it.
public final class VMControl: Sendable {
  private let expired = Atomic<Bool>(false)
  /// The kicker of the VM's current vCPU; nil while the VM is not resident (swapped out or not yet loaded).
  private let kicker = Locked<VCPUKicker?>(nil)
  private let interrupts: VirtualInterrupts

  init(interrupts: VirtualInterrupts) {
    self.interrupts = interrupts
  }

  /// Points the handle at a new vCPU (after a swap-in) or at none (after a swap-out).
  func attach(_ newKicker: VCPUKicker?) { kicker.withLock { $0 = newKicker } }

  /// Marks the VM's timeout as passed and makes it stop as soon as possible, running, idle or swapped out:
  /// an idle VM is made runnable by its scheduler (told through the interrupts' listener), and its next slice
  /// ends it. Must not be called with the scheduler's lock held (the scheduler uses `markExpired`).
  public func expire() {
    markExpired()
    interrupts.notifyListener()
  }

  /// Sets the flag, kicks the vCPU and ends a blocking idle wait, without telling the scheduler (which calls
  /// this with its own lock held, and makes the VM runnable itself). The flag is set before the kick, so the
  /// VM's loop never depends on two clocks agreeing.
  func markExpired() {
    expired.store(true, ordering: .releasing)
    kicker.withLock { $0 }?.requestExit()
    interrupts.wake()
  }

  /// True once `expire()` has been called.
  public var hasExpired: Bool { expired.load(ordering: .acquiring) }

  /// Ends the VM's current slice at its next opportunity (quantum expiry); it stays runnable.
  public func preempt() { kicker.withLock { $0 }?.requestExit() }
}
