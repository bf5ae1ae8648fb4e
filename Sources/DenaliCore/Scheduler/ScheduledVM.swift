// ScheduledVM.swift: the scheduler's record of one VM; every field is guarded by the scheduler's lock.

/// The scheduler's record of one VM. Fields are read and written only with the scheduler's lock held.
final class ScheduledVM: @unchecked Sendable {
  /// Where the VM is in its life.
  enum State {
    /// Wants the CPU (in a run queue when resident, else waiting for admission or a swap).
    case runnable
    /// On a worker.
    case running
    /// Waiting for its idle deadline or an interrupt.
    case idle
    /// Over; its KVM objects are released.
    case finished
  }

  /// Whether the VM's KVM objects and memory exist (the gatekeeper's view).
  enum Residency {
    /// Not in memory: never loaded yet, or swapped out.
    case absent
    /// Admitted: being booted or swapped in on a swap thread.
    case loading
    /// In memory: may run.
    case resident
    /// Being written to its swap file on a swap thread.
    case unloading
  }

  let id: UInt64
  let name: String
  /// Bytes of guest memory, charged against the memory budget while the VM is in memory.
  let memorySize: UInt64
  /// The VM itself; nil once finished, so its descriptors and mappings go away at once. Nothing else here
  /// may hold any part of it: a stale timer entry keeps this record alive until its deadline.
  var guest: GuestVM?
  /// The VM's control handle while it exists.
  var control: VMControl? { guest?.control }
  var state: State = .runnable
  var residency: Residency
  /// True while the VM may not run (`Scheduler.submit(_:name:held:)`): it is admitted and loaded meanwhile,
  /// but enters a run queue only once released (`Scheduler.release(ids:)`).
  var held = false
  /// True while the VM is in the gatekeeper's admission queue.
  var awaitingAdmission = false
  /// Worker time the VM has had (CPU time of its slices plus time waiting on its disk), in nanoseconds, on
  /// the scheduler's virtual clock: the run queue serves the least first. Lifted to the clock minus the sleeper credit when the VM is queued after a wait, so a VM
  /// that idled gets the next slice (Denali's reward) but can never bank more than the credit.
  var virtualRuntime: UInt64 = 0
  /// The token of the VM's live entry in the run queue; nil when it is not queued.
  var runQueueToken: UInt64?
  /// True while a timer entry for the VM's current idle is in the timer queue.
  var hasWakeTimer = false
  /// True while the VM's run-timeout entry is in the timer queue.
  var hasTimeoutTimer = false
  /// True once the VM has been loaded (booted) at least once: admission then serves it before new VMs.
  var hasBeenLoaded: Bool
  /// CLOCK_MONOTONIC when the VM was last admitted into memory.
  var admittedAt: UInt64 = 0
  /// Slices run since the VM was last admitted (a runnable VM is evicted only after one).
  var slicesSinceAdmission = 0
  /// No swap-out is tried before this CLOCK_MONOTONIC time (backoff after a failed one).
  var swapRetryAfter: UInt64 = 0
  /// Bumped on every idle, so a stale timer entry for an earlier idle is ignored.
  var idleGeneration: UInt64 = 0
  /// The timer deadline that woke the VM, until it runs: the worker that takes it raises its timer bit and
  /// measures its lateness. Kept across a swap-out and in, so a VM its timer woke while out of memory gets the bit.
  var wokenAtDeadline: UInt64?
  var accounting = VMAccounting()
  /// What the VM's next wake-up touches first, taken as it last went idle: the worker that picks the VM, and the
  /// one that picks the VM before it, prefetch it (`WakeupFootprint`; addresses only, possibly stale).
  var wakeupFootprint = WakeupFootprint()

  init(guest: GuestVM, name: String) {
    self.id = guest.configuration.id
    self.name = name
    self.memorySize = guest.configuration.memorySize
    self.guest = guest
    self.residency = guest.isResident ? .resident : .absent
    self.hasBeenLoaded = guest.hasBooted
  }
}
