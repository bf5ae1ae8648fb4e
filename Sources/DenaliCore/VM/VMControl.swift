// VMControl.swift: the thread-safe handle on a VM: expire its timeout, preempt it, wake it from idle.
import KVM
import Synchronization

/// Controls a VM from any thread while another thread may be running it.
public final class VMControl: Sendable {
  private let expired = Atomic<Bool>(false)
  private let kicker: VCPUKicker
  private let interrupts: VirtualInterrupts

  init(kicker: VCPUKicker, interrupts: VirtualInterrupts) {
    self.kicker = kicker
    self.interrupts = interrupts
  }

  /// Marks the VM's timeout as passed and makes it stop as soon as possible, running or idle.
  /// The flag is set before the kick, so the VM's loop never depends on two clocks agreeing.
  public func expire() {
    expired.store(true, ordering: .releasing)
    kicker.requestExit()
    interrupts.wake()
  }

  /// True once `expire()` has been called.
  public var hasExpired: Bool { expired.load(ordering: .acquiring) }

  /// Ends the VM's current slice at its next opportunity (quantum expiry); it stays runnable.
  public func preempt() { kicker.requestExit() }
}
