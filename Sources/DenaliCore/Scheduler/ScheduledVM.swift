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
  /// The VM itself; nil once finished, so its descriptors and mappings go away at once.
  var guest: GuestVM?
  let control: VMControl
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
    self.control = guest.control
  }
}
