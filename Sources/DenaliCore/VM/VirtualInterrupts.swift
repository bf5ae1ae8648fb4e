// VirtualInterrupts.swift: a VM's pending virtual-interrupt mask, and the wait an idling VM blocks in.
import Glibc
import Synchronization

/// The pending-interrupt bits of one VM (batched: delivered when the VM next idles or is entered),
/// and a monotonic-clock wait that any thread can cut short by raising a bit or calling `wake()`.
///
/// The listener is a plain stored property guarded by `condition`'s mutex, never a bare function value in a
/// generic container: `Mutex<(() -> Void)?>.withLock { $0 }` wrapped the stored closure in one more
/// reabstraction thunk on every call (the inout write-back), so each notification ran one frame deeper on
/// the notifying thread until the switch thread overflowed its stack. A raise now costs a constant stack
/// depth: `raise` → the listener → the scheduler's wake-up.
public final class VirtualInterrupts: @unchecked Sendable {
  /// The function `raise` calls after setting bits, boxed in a struct so that it is stored and returned
  /// at its own abstraction.
  struct Listener: Sendable {
    /// Called after bits were raised (outside any lock of this type).
    let notify: @Sendable () -> Void
  }

  private let pending = Atomic<UInt64>(0)
  private let condition = MonotonicCondition()
  // Guarded by `condition`'s mutex.
  private var woken = false
  private var listener: Listener?

  /// An empty mask.
  public init() {}

  /// The bits pending now.
  public var current: UInt64 { pending.load(ordering: .acquiring) }

  /// Sets `bits`, wakes a thread blocked in `wait`, and tells the listener (the scheduler, which makes an
  /// idle VM runnable).
  public func raise(_ bits: UInt64) {
    raise(bits, notifyListener: true)
  }

  /// Sets `bits` and wakes a blocked `wait`; tells the listener only when `notifyListener` (the scheduler
  /// raises the timer bit itself, under its own lock, and must not be called back).
  func raise(_ bits: UInt64, notifyListener: Bool) {
    pending.bitwiseOr(bits, ordering: .acquiringAndReleasing)
    let listener = condition.withLock {
      condition.broadcast()
      return self.listener
    }
    if notifyListener { listener?.notify() }
  }

  /// Sets `bits` for a VM about to run on the calling thread, which delivers them as it enters the guest: nobody
  /// waits on the condition for a VM a worker is about to run, and its listener (the scheduler) already has it.
  func raiseBeforeRun(_ bits: UInt64) {
    pending.bitwiseOr(bits, ordering: .acquiringAndReleasing)
  }

  /// Tells the listener (the scheduler) without raising a bit: a VM that was stopped must be made runnable
  /// if it idles, so that its next slice can end it.
  func notifyListener() {
    condition.withLock { listener }?.notify()
  }

  /// Installs the function `raise` calls after setting bits.
  func setListener(_ function: (@Sendable () -> Void)?) {
    condition.withLock { listener = function.map(Listener.init(notify:)) }
  }

  /// Clears `bits` without delivering them (a device whose condition ended, such as an emptied receive queue).
  public func clear(_ bits: UInt64) { pending.bitwiseAnd(~bits, ordering: .acquiringAndReleasing) }

  /// Returns the pending bits and clears them (delivery).
  func take() -> UInt64 { pending.exchange(0, ordering: .acquiringAndReleasing) }

  /// Ends the current or next `wait` early (for example when the VM's timeout passes).
  public func wake() {
    condition.withLock {
      woken = true
      condition.broadcast()
    }
  }

  /// Blocks until a bit is pending, `wake()` is called, or CLOCK_MONOTONIC reaches `deadline` (nanoseconds;
  /// nil = no deadline). Returns true when the deadline passed.
  func wait(untilMonotonicNanoseconds deadline: UInt64?) -> Bool {
    condition.withLock {
      defer { woken = false }
      while current == 0 && !woken {
        if let deadline, monotonicNanoseconds() >= deadline { return true }
        condition.wait(untilMonotonicNanoseconds: deadline)
      }
      return false
    }
  }
}
