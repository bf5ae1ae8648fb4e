// EngineTable.swift: the engine's table of VMs (entries, names, finished order, ids, reservations, counters),
// reachable only inside the engine's lock (`Locked<EngineTable>`), with the operations done while it is held.
import ControlAPI
import DenaliCore

/// What the engine's lock guards: every VM it keeps and what create requests in progress have reserved.
struct EngineTable {
  /// Every VM kept, live or finished, by id.
  var entries: [UInt64: EngineEntry] = [:]
  /// Names in use (of kept VMs and of reservations), to ids.
  var names: [String: UInt64] = [:]
  /// Finished VMs, oldest first (the first to be forgotten).
  var finishedOrder: [UInt64] = []
  /// The next id to give out (never reused, see the journal's nextID entry).
  var nextID: UInt64
  /// VMs created since start.
  var createdTotal: UInt64 = 0
  /// Whether a stop began: creations are refused.
  var stopping = false
  /// Whether `start()` ran (the scheduler's threads and the restored VMs were started).
  var started = false
  /// Entries appended to the journal since it was last rewritten.
  var journalAppends = 0
  /// What finished VMs no longer kept used.
  var forgottenUsage = VMUsage()
  /// VMs restored at start, submitted by `start()`.
  var pendingSubmissions: [GuestVM] = []
  /// Ports of VMs that finished, to be removed from the switch (their addresses become free then).
  var pendingPortReleases: [NetworkPort] = []
  /// VMs reserved by create requests in progress: counted against the limit.
  var reserved = 0
  /// The reservations of create requests in progress, by their first id.
  var reservations: [UInt64: Reservation] = [:]
  /// VMs submitted (held) while their journal record is being made durable, with the reports of those that
  /// finished meanwhile (a failed load): handed to `finished` once their entries are in the table.
  var awaitingDurability: [UInt64: VMReport?] = [:]

  /// What one create request in progress has reserved: counted against its owner's quotas and the disk limits.
  struct Reservation {
    /// The uid the VMs will belong to.
    var owner: UInt32
    /// VMs neither created nor released yet.
    var count: Int
    /// Guest memory per VM, in bytes.
    var memory: UInt64
    /// Scratch disk per VM, in bytes.
    var disk: UInt64

    /// What those VMs will hold.
    var holdings: EngineHoldings { EngineHoldings(count: count, memory: memory, disk: disk) }
  }

  /// The table recovery rebuilt from the state directory.
  init(recovery: EngineRecovery) {
    nextID = recovery.nextID
    for entry in recovery.entries {
      entries[entry.record.id] = entry
      if let name = entry.record.name { names[name] = entry.record.id }
      if entry.hasEnded { finishedOrder.append(entry.record.id) }
    }
    pendingSubmissions = recovery.guests
  }

  /// Forgets the oldest finished VMs while more than `limit` are kept.
  mutating func forgetFinished(beyond limit: Int) {
    while finishedOrder.count > limit {
      let id = finishedOrder.removeFirst()
      guard let entry = entries.removeValue(forKey: id) else { continue }
      if let name = entry.record.name, names[name] == id { names[name] = nil }
      forgottenUsage = forgottenUsage.adding(entry.record.usage)
    }
  }

  /// Reserves ids, names and room for up to `request.count` VMs under `settings`; returns the first id, how many
  /// fit, and why fewer than asked did.
  mutating func reserve(
    _ request: VMCreationRequest, settings: EngineBackend.Settings
  ) throws(ControlBackendError) -> (UInt64, Int, ControlBackendError?) {
    guard !stopping else { throw .unavailable("the daemon is stopping") }
    if let requested = request.names {
      var seen = Set<String>()
      for name in requested {
        guard names[name] == nil, seen.insert(name).inserted else {
          throw .conflict("the name '\(name)' is already in use")
        }
      }
    }
    // Quotas and disk limits refuse the whole request before anything changes.
    if !settings.limits.isEmpty {
      let (all, own) = holdings(of: request.requester.uid)
      try settings.limits.check(
        count: request.count, memory: request.memoryBytes, disk: request.diskBytes ?? 0, requester: request.requester,
        all: all, own: own)
    }
    // Live VMs and reservations count against the limit; finished VMs make room, oldest first.
    let room = settings.maximumVMs - (entries.count - finishedOrder.count) - reserved
    guard room > 0 else {
      throw .limitReached("the daemon keeps \(settings.maximumVMs) VMs at most (max-vms), all live")
    }
    let count = min(request.count, room)
    let excess = entries.count + reserved + count - settings.maximumVMs
    if excess > 0 { forgetFinished(beyond: finishedOrder.count - excess) }
    let first = nextID
    nextID += UInt64(count)
    for index in 0..<count {
      if let name = request.names?[index] { names[name] = first + UInt64(index) }
    }
    let shortBy: ControlBackendError? =
      count < request.count
      ? .limitReached(
        "created \(count) of \(request.count): the daemon keeps \(settings.maximumVMs) VMs at most (max-vms)")
      : nil
    reserved += count
    reservations[first] = Reservation(
      owner: request.requester.uid, count: count, memory: request.memoryBytes, disk: request.diskBytes ?? 0)
    return (first, count, shortBy)
  }

  /// Returns the room and names of `count` reserved VMs from `firstID` on that were not created, and their share
  /// of the reservation that began at `reservation`.
  mutating func release(firstID: UInt64, count: Int, names released: [String]?, reservation: UInt64) {
    if var held = reservations[reservation] {
      held.count = max(0, held.count - count)
      reservations[reservation] = held.count > 0 ? held : nil
    }
    reserved -= count
    for name in released ?? [] {
      if let id = names[name], id >= firstID, id < firstID + UInt64(count) { names[name] = nil }
    }
  }

  /// What live VMs and reservations hold: all of them, and those of `owner`. Finished VMs hold nothing: their
  /// scratch disks and swap files are gone.
  func holdings(of owner: UInt32) -> (all: EngineHoldings, own: EngineHoldings) {
    var all = EngineHoldings()
    var own = EngineHoldings()
    for entry in entries.values where !entry.hasEnded {
      let record = entry.record
      // A shared read-only disk image is no scratch disk: its one copy is in the image store, whatever the VMs.
      let scratch = record.diskImageKey == nil ? record.diskSize ?? 0 : 0
      let held = EngineHoldings(count: 1, memory: record.memorySize, disk: scratch)
      all.add(held)
      if record.owner == owner { own.add(held) }
    }
    for reservation in reservations.values {
      all.add(reservation.holdings)
      if reservation.owner == owner { own.add(reservation.holdings) }
    }
    return (all, own)
  }

  /// The id `vm` names; `.notFound` when none.
  func resolve(_ vm: VMReference) throws(ControlBackendError) -> UInt64 {
    switch vm {
    case .id(let id):
      guard entries[id] != nil else { throw .notFound("no \(vm)") }
      return id
    case .name(let name):
      guard let id = names[name], entries[id] != nil else { throw .notFound("no \(vm)") }
      return id
    }
  }
}
