// VirtualInterrupts.swift: a VM's pending virtual-interrupt mask, and the wait an idling VM blocks in.
import Glibc
import Synchronization

/// The pending-interrupt bits of one VM (batched: delivered when the VM next idles or is entered),
/// and a monotonic-clock wait that any thread can cut short by raising a bit or calling `wake()`.
public final class VirtualInterrupts: @unchecked Sendable {
  private let pending = Atomic<UInt64>(0)
  private let condition = MonotonicCondition()
  private var woken = false
  private let listener = Mutex<(@Sendable () -> Void)?>(nil)

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
    condition.withLock { condition.broadcast() }
    if notifyListener { listener.withLock { $0 }?() }
  }

  /// Installs the function `raise` calls after setting bits.
  func setListener(_ function: (@Sendable () -> Void)?) { listener.withLock { $0 = function } }

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
