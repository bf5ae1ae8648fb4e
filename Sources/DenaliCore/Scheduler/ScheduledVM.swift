// ScheduledVM.swift: the scheduler's record of one VM; every field is guarded by the scheduler's lock.

/// The scheduler's record of one VM. Fields are read and written only with the scheduler's lock held.
final class ScheduledVM: @unchecked Sendable {
  /// Where the VM is in its life.
  enum State {
    /// In a run queue.
    case runnable
    /// On a worker.
    case running
    /// Waiting for its idle deadline or an interrupt.
    case idle
    /// Over; its KVM objects are released.
    case finished
  }

  let id: UInt64
  let name: String
  /// The VM itself; nil once finished, so its descriptors and mappings go away at once. Nothing else here
  /// may hold any part of it: a stale timer entry keeps this record alive until its deadline.
  var guest: GuestVM?
  /// The VM's control handle while it exists.
  var control: VMControl? { guest?.control }
  var state: State = .runnable
  /// Bumped on every idle, so a stale timer entry for an earlier idle is ignored.
  var idleGeneration: UInt64 = 0
  /// The timer deadline that woke the VM, until it runs (to measure lateness).
  var wokenAtDeadline: UInt64?
  var accounting = VMAccounting()

  init(guest: GuestVM, name: String) {
    self.id = guest.configuration.id
    self.name = name
    self.guest = guest
  }
}
