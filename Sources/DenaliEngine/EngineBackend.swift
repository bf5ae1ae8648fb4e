// EngineBackend.swift: the engine behind `denalid serve`: the scheduler, gatekeeper and swap files, a durable
// VM table and per-VM consoles, behind the control API's ControlBackend protocol.
import ControlAPI
import DenaliCore
import Foundation
import KVM
import Logging
import TrustedFiles

/// The daemon's engine. VMs run on one `Scheduler` with a memory budget (every VM is swappable); each VM's
/// record is journaled before it first runs, so the daemon can restart it after a stop or a crash.
///
/// Lock order: the scheduler may call `finished` with its own lock held, and console followers are called with
/// a console's lock held; both take the engine's lock. A NIC's port raises its VM's interrupt (the scheduler's
/// lock) with its own lock held. So the engine never calls the scheduler, a console or a port (nor the switch,
/// which takes ports' locks) while holding its lock, and never touches a port or the switch from `finished`.
final class EngineBackend: ControlBackend, Sendable {
  /// What the engine is set up with.
  struct Settings {
    /// Most VMs kept at once, finished ones included (the oldest finished ones make room first).
    var maximumVMs: Int
    /// Finished VMs kept for `list` and `inspect` at most.
    var keptFinishedVMs: Int
    /// Console bytes kept per VM.
    var consoleBytes: Int
    /// Journal appends after which a create request rewrites the journal (more when many VMs are kept).
    var journalCompactionAppends = 1_000
    /// Per-user quotas and the daemon-wide disk limits, checked at creation.
    var limits = EngineLimits()
  }

  /// The directories the engine keeps its state in, held open by descriptor (every file in them is reached
  /// through these, never by a path), each checked to be changeable by the daemon's user alone.
  struct StateLayout {
    /// The state directory (the VM journal and the clean-stop marker).
    let root: TrustedDirectory
    /// Swap files.
    let swap: TrustedDirectory
    /// Copies of the images VMs were created from.
    let images: TrustedDirectory
    /// Scratch disks.
    let disks: TrustedDirectory

    /// Opens (creating what is missing, mode 0700) the state directory at `path` and its folders; throws for
    /// a directory another user could change (see `TrustedDirectory.open`).
    static func open(_ path: String) throws(TrustedDirectoryError) -> StateLayout {
      let root = try TrustedDirectory.open(path, creating: .missingTarget(0o700))
      return StateLayout(
        root: root, swap: try root.subdirectory("swap"), images: try root.subdirectory("images-store"),
        disks: try root.subdirectory("disks"))
    }

    /// Every directory of the layout rooted at `path` (the daemon must be able to write each).
    static func directories(root path: String) -> [String] {
      [path] + ["swap", "images-store", "disks"].map { path + "/" + $0 }
    }

    /// Written at a clean stop, removed at start: its absence at start means the last run crashed.
    static let cleanStopMarker = "clean-stop"
    /// The name of VM `id`'s scratch disk in `disks`.
    static func diskName(forVM id: UInt64) -> String { "vm-\(id).img" }
  }

  private let builder: VMBuilder
  /// The scheduler running the VMs (internal for tests).
  let scheduler: Scheduler
  /// The journal, behind a lock that each change to it holds together with the table change it records: a create
  /// appends its records and enters its VMs into the table under it, and a rewrite (compaction, stop) takes its
  /// snapshot of the table and writes it under it, so no rewrite can drop records appended for VMs not yet in the
  /// table (lock order: this one, then the table's).
  private let journal: Locked<VMJournal>
  private let images: ImageStore
  private let layout: StateLayout
  private let settings: Settings
  private let logger: Logger
  private let startedAt = Date()
  /// The virtual network, nil when the daemon has none.
  private let network: EngineNetwork?
  /// Where ports of VMs that finished are removed from the switch (never on the scheduler's thread) (started with the engine when it has a network).
  private let portReleases = PortReleaseThread()

  /// The VM table: reachable only with the engine's lock held.
  private let table: Locked<EngineTable>
  /// The state directory's lock, released at the end of `shutdown()`.
  private let stateLock: StateDirectoryLock
  /// Whether the clean-stop marker was there at start (recovery removed it).
  private let previousStopWasClean: Bool

  /// An engine over `scheduler` (whose `onFinish` must call `finished(_:)` through `relay`), with the VMs
  /// `recovery` rebuilt from the state directory.
  init(
    builder: VMBuilder, scheduler: Scheduler, relay: FinishRelay, journal: VMJournal, images: ImageStore,
    layout: StateLayout, settings: Settings, network: EngineNetwork?, recovery: EngineRecovery,
    stateLock: StateDirectoryLock, logger: Logger
  ) {
    self.stateLock = stateLock
    self.builder = builder
    self.scheduler = scheduler
    self.journal = Locked(journal)
    self.images = images
    self.layout = layout
    self.settings = settings
    self.logger = logger
    self.network = network
    table = Locked(EngineTable(recovery: recovery))
    previousStopWasClean = recovery.previousStopWasClean
    relay.target = self
  }

  // MARK: ControlBackend (each method as the protocol documents it)

  /// Starts the scheduler's threads, submits the VMs recovered from the previous run, then starts the switch and
  /// its uplink (frames that arrive for a resumed VM wake it from there on).
  func start() throws {
    table.withLock { $0.started = true }
    if network != nil { portReleases.start { [weak self] in self?.releaseFinishedPorts() } }
    scheduler.start()
    let guests = table.withLock { table in
      defer { table.pendingSubmissions = [] }
      return table.pendingSubmissions
    }
    for guest in guests { scheduler.submit(guest, name: "vm \(guest.configuration.id)") }
    if !guests.isEmpty { logger.notice("resumed \(guests.count) VMs") }
    if let network {
      try network.start()
      let settings = network.configuration
      logger.notice(
        "network \(settings.subnet): \(settings.uplink.map { "uplink tap \($0.tapName) at \($0.address)" } ?? "no uplink"), vm-to-vm \(settings.isolatesVMs ? "deny" : "allow")"
      )
    }
  }

  func createVMs(_ request: VMCreationRequest) throws(ControlBackendError) -> VMCreationResult {
    let requestedAt = monotonicNanoseconds()
    if let budget = scheduler.configuration.swapping?.memoryBudget, request.memoryBytes > budget {
      throw .invalid(
        "a VM of \(request.memoryBytes >> 20) MiB could never be admitted: the memory budget is \(budget >> 20) MiB (memory-budget)"
      )
    }
    if request.network != nil && network == nil { throw networkNotConfigured }
    let image: GuestImage
    do {
      image = try GuestImage(bytes: request.image.bytes, memorySize: request.memoryBytes)
    } catch {
      throw .invalid("\(request.image.path) is not a usable guest image: \(error)")
    }
    // Addresses of VMs that finished are free again before new ones are handed out.
    releaseFinishedPorts()
    // Reserve ids and names, and room under the VM limit.
    let (firstID, count, shortBy) = try table.withLock { (table) throws(ControlBackendError) in
      try table.reserve(request, settings: settings)
    }
    let imageKey: String
    let diskImageKey: String?
    do {
      imageKey = try images.store(request.image.bytes)
      diskImageKey = try request.diskImage.map { image throws(ImageStoreError) in try images.store(image.bytes) }
    } catch {
      release(firstID: firstID, count: count, names: request.names, reservation: firstID)
      throw .hostError("cannot keep a copy of the image in the state directory: \(error)")
    }
    var built: [(entry: EngineEntry, guest: GuestVM)] = []
    var stoppedBy = shortBy
    let now = Date().timeIntervalSince1970
    for index in 0..<count {
      let id = firstID + UInt64(index)
      var port: NetworkPort?
      do throws(ControlBackendError) {
        if let wanted = request.network, let network { port = try network.allocate(id: id, requested: wanted.address) }
        let record = VMRecord(
          id: id, name: request.names?[index], imagePath: request.image.path, imageKey: imageKey,
          memorySize: request.memoryBytes,
          diskSize: request.diskBytes ?? request.diskImage.map { UInt64($0.bytes.count) },
          arguments: request.arguments, createdAt: now, address: port?.address, owner: request.requester.uid,
          diskImageKey: diskImageKey, diskImagePath: request.diskImage?.path)
        built.append(
          try builder.build(
            record, image: image, restoringFrom: nil, requestedAt: requestedAt, freshDisk: true, port: port))
      } catch {
        if let port { network?.release(port) }
        stoppedBy = error
        break
      }
    }
    if built.count < count {
      release(
        firstID: firstID + UInt64(built.count), count: count - built.count,
        names: request.names.map { Array($0[built.count...]) }, reservation: firstID)
    }
    guard !built.isEmpty else {
      throw stoppedBy ?? .hostError("no VM was created")
    }
    // Submitted held: each is admitted and loaded while its record is written and synced, and runs only once
    // released below, after the sync; a VM whose record failed is discarded and never runs.
    let ids = built.map(\.entry.record.id)
    table.withLock { table in
      for id in ids { table.awaitingDurability[id] = .some(nil) }
    }
    for item in built { scheduler.submit(item.guest, name: "vm \(item.entry.record.id)", held: true) }
    // Journaled VMs are kept even if a stop began meanwhile: the stop records them, and they start after it.
    // The entries are read for the answer here, under the table's lock and before the VMs are released: once they
    // run, a VM that ends at once has its entry written by `finished` on a worker.
    let (earlyReports, infos): ([VMReport], [VMInfo])
    do {
      (earlyReports, infos) = try journal.withLock { (journal) throws(VMJournalError) in
        try journal.recordCreated(built.map(\.entry.record))
        return table.withLock { table in
          for item in built { table.entries[item.entry.record.id] = item.entry }
          table.reserved -= built.count
          table.reservations[firstID] = nil
          table.createdTotal += UInt64(built.count)
          table.journalAppends += 1
          let now = (monotonicNanoseconds(), Date())
          return (
            ids.compactMap { id in table.awaitingDurability.removeValue(forKey: id) ?? nil },
            built.map { $0.entry.info(status: nil, now: now) }
          )
        }
      }
    } catch {
      table.withLock { table in
        for id in ids { table.awaitingDurability[id] = nil }
      }
      scheduler.discard(ids: ids)
      for item in built {
        if let disk = item.entry.diskName { layout.disks.remove(disk) }
        if let port = item.entry.port { network?.release(port) }
      }
      release(firstID: firstID, count: built.count, names: request.names, reservation: firstID)
      throw .hostError("cannot record the VMs in the state directory (nothing was created): \(error)")
    }
    scheduler.release(ids: ids)
    for report in earlyReports { finished(report) }
    compactJournalIfLarge()
    return VMCreationResult(
      created: infos.map {
        var info = $0
        info.state = .waitingForAdmission
        return info
      }, stoppedBy: stoppedBy)
  }

  func listVMs() -> [VMInfo] {
    let readings = portReadings(of: nil)
    let statuses = Dictionary(uniqueKeysWithValues: scheduler.snapshot().map { ($0.id, $0) })
    let now = (monotonicNanoseconds(), Date())
    return table.withLock { table in
      table.entries.values.sorted { $0.record.id < $1.record.id }.map {
        $0.info(status: statuses[$0.record.id], now: now, reading: readings[$0.record.id])
      }
    }
  }

  func inspectVM(_ vm: VMReference) throws(ControlBackendError) -> VMInfo {
    let id = try resolve(vm)
    let reading = portReadings(of: id)[id]
    let status = scheduler.status(id: id)
    let now = (monotonicNanoseconds(), Date())
    return try table.withLock { (table) throws(ControlBackendError) -> VMInfo in
      guard let entry = table.entries[id] else { throw .notFound("no \(vm)") }
      return entry.info(status: status, now: now, reading: reading)
    }
  }

  /// The counters and receive-queue lengths of the live ports of VM `id` (every VM for nil), read outside the
  /// engine's lock.
  private func portReadings(of id: UInt64?) -> [UInt64: EngineEntry.PortReading] {
    guard network != nil else { return [:] }
    let ports: [(UInt64, NetworkPort)] = table.withLock { table in
      if let id { return table.entries[id]?.port.map { [(id, $0)] } ?? [] }
      return table.entries.compactMap { id, entry in entry.port.map { (id, $0) } }
    }
    var readings: [UInt64: EngineEntry.PortReading] = [:]
    readings.reserveCapacity(ports.count)
    for (id, port) in ports { readings[id] = (port.counters, port.receiveQueueLength) }
    return readings
  }

  func killVM(_ vm: VMReference) throws(ControlBackendError) -> VMInfo {
    let id = try resolve(vm)
    // Taken before the expiry: a VM that is not in memory ends inside it, and `finished` hands its port over.
    let port = try table.withLock { (table) throws(ControlBackendError) -> NetworkPort? in
      guard let entry = table.entries[id] else { throw .notFound("no \(vm)") }
      guard !entry.hasEnded, !entry.killRequested else {
        throw .conflict("\(vm) has already finished")
      }
      entry.killRequested = true
      return entry.port
    }
    // Taken before the expiry too: a VM not in memory ends inside it, and with `keep-finished` at 0 its record is
    // then dropped at once, so that the answer can only be this one, marked killed.
    var before = try inspectVM(.id(id))
    scheduler.expire(id: id)
    // Its address is free at once: the port leaves the switch now, even if the VM's last slice still runs.
    if let port { network?.release(port) }
    do {
      return try inspectVM(.id(id))
    } catch .notFound {
      before.state = .killed
      before.residentBytes = 0
      return before
    }
  }

  func consoleTail(_ vm: VMReference, lines: Int) throws(ControlBackendError) -> [UInt8] {
    try console(of: vm).tail(lines: lines)
  }

  func followConsole(
    _ vm: VMReference, tailLines: Int, handler: @escaping @Sendable (ConsoleEvent) -> Void
  ) throws(ControlBackendError) -> any ConsoleSubscription {
    let id = try resolve(vm)
    let log = try console(of: .id(id))
    let subscription = log.subscribe(tailLines: tailLines) { [weak self] event in
      switch event {
      case .output(let bytes): handler(.output(bytes))
      case .ended: handler(.ended(self?.finalState(id) ?? .killed))
      }
    }
    return ConsoleFollower(subscription: subscription)
  }

  func statistics() -> DaemonStatistics {
    let statuses = Dictionary(uniqueKeysWithValues: scheduler.snapshot().map { ($0.id, $0) })
    let swap = scheduler.swapStatistics
    let occupancy = scheduler.memoryOccupancy
    var byState: [VMStateKind: Int] = [:]
    let (created, usage): (UInt64, VMUsage) = table.withLock { table in
      var total = table.forgottenUsage
      for entry in table.entries.values {
        let status = statuses[entry.record.id]
        byState[entry.state(status: status).kind, default: 0] += 1
        total = total.adding(entry.usage(status: status))
      }
      return (table.createdTotal, total)
    }
    return DaemonStatistics(
      uptimeSeconds: Date().timeIntervalSince(startedAt), vmsByState: byState, vmsCreatedTotal: created,
      memoryBudgetBytes: scheduler.configuration.swapping?.memoryBudget ?? 0,
      memoryAdmittedBytes: occupancy?.chargedBytes ?? 0,
      memoryResidentBytes: UInt64(max(0, ProcFile.residentKiB)) * 1024,
      swapBytes: scheduler.configuration.swapping?.store.diskUsage() ?? 0, swapOutsTotal: swap.swapOuts,
      swapInsTotal: swap.swapIns,
      cpuTimeNanosecondsTotal: usage.cpuNanoseconds, exitsTotal: usage.exits, hypercallsTotal: usage.hypercalls,
      workers: scheduler.configuration.workers, network: network?.statistics())
  }

  /// What live VMs and reservations hold, all of them and those of `uid` (for limits kept across processes).
  func holdings(of uid: UInt32) -> WorkerHoldings {
    table.withLock { table in
      let (all, own) = table.holdings(of: uid)
      return WorkerHoldings(all: all, own: own)
    }
  }

  /// Which of `names` a VM of this engine has, finished ones it keeps included.
  func namesInUse(_ names: [String]) -> [String] {
    table.withLock { table in names.filter { table.names[$0] != nil } }
  }

  func health() -> BackendHealth {
    let (isStopping, kept) = table.withLock { ($0.stopping, $0.entries.count) }
    if isStopping { return BackendHealth(healthy: false, detail: "stopping") }
    return BackendHealth(healthy: true, detail: "ok: \(scheduler.liveCount) VMs live, \(kept) kept")
  }

  func shutdown() {
    let wasStarted = table.withLock { table in
      table.stopping = true
      return table.started
    }
    guard wasStarted else {
      // The daemon gave up before the engine ran (its checks after the privilege drop failed): nothing ran,
      // so the journal and swap files stay as they were found; put back the clean-stop marker recovery removed.
      if previousStopWasClean { writeCleanStopMarker() }
      journal.withLock { $0.close() }
      stateLock.release()
      return
    }
    logger.notice("stopping: writing every VM to its swap file")
    let unsaved = scheduler.suspendAll(log: { [logger] line in logger.error("\(line)") })
    if !unsaved.isEmpty {
      logger.error(
        "\(unsaved.count) VMs could not be swapped out; they will restart from their last complete swap image or their image: \(unsaved.prefix(20).map(String.init).joined(separator: ", "))"
      )
    }
    network?.stop()
    portReleases.stop()
    // The scheduler still knows every live VM's accounting after it stopped, and each port its traffic: fold
    // them into the records.
    let statuses = Dictionary(uniqueKeysWithValues: scheduler.snapshot().map { ($0.id, $0) })
    let readings = portReadings(of: nil)
    journal.withLock { journal in
      let (sortedEntries, next) = table.withLock { table in
        (table.entries.values.sorted { $0.record.id < $1.record.id }, table.nextID)
      }
      let records = sortedEntries.map { entry in
        var record = entry.record
        record.console = entry.console.contents
        record.usage = table.withLock { _ in
          entry.usage(status: statuses[record.id], nic: readings[record.id]?.counters)
        }
        return record
      }
      do {
        try journal.rewrite(records, nextID: next)
        if unsaved.isEmpty { writeCleanStopMarker() }
        logger.notice("saved \(records.count) VM records (\(records.filter { $0.end == nil }.count) live)")
      } catch {
        logger.error("cannot rewrite the VM table at stop (the journal written so far stays valid): \(error)")
      }
      journal.close()
    }
    stateLock.release()
  }

  /// Creates the clean-stop marker (best effort: without it the next start restores as after a crash): a new,
  /// empty file in the state directory, never through a link and never truncating anything.
  private func writeCleanStopMarker() {
    layout.root.remove(StateLayout.cleanStopMarker)
    let fd = layout.root.createFile(StateLayout.cleanStopMarker, flags: O_WRONLY)
    if fd >= 0 {
      fsync(fd)
      close(fd)
      _ = layout.root.sync()
    }
  }

  // MARK: Finished VMs

  /// A VM finished (called by the scheduler, maybe with its lock held): records how, closes its console,
  /// removes its scratch disk, and forgets the oldest finished VMs beyond the limit.
  func finished(_ report: VMReport) {
    let result: (entry: EngineEntry, end: VMEnd, at: Double, usage: VMUsage)? = table.withLock { table in
      if table.awaitingDurability[report.id] != nil {
        // Its record is still being synced: handled once it is in the table (or dropped if it never is).
        table.awaitingDurability[report.id] = .some(report)
        return nil
      }
      guard let entry = table.entries[report.id], !entry.hasEnded else { return nil }
      let end = EngineEntry.end(for: report.outcome, killed: entry.killRequested)
      let at = Date().timeIntervalSince1970
      entry.record.end = end
      entry.record.endedAt = at
      entry.record.usage = entry.record.usage.adding(report.accounting)
      entry.finalAccounting = report.accounting
      if let port = entry.port {
        // Removed from the switch on another thread: this may run with the scheduler's lock held.
        table.pendingPortReleases.append(port)
        entry.port = nil
      }
      table.finishedOrder.append(report.id)
      table.journalAppends += 1
      table.forgetFinished(beyond: settings.keptFinishedVMs)
      return (entry, end, at, entry.record.usage)
    }
    guard let result else { return }
    if network != nil { portReleases.wake() }
    do {
      try journal.withLock { (journal) throws(VMJournalError) in
        try journal.recordEnded(id: report.id, end: result.end, at: result.at, usage: result.usage)
      }
    } catch {
      logger.error("vm \(report.id): cannot record its end (it may be restarted after a crash): \(error)")
    }
    if let disk = result.entry.diskName { layout.disks.remove(disk) }
    result.entry.console.close()
  }

  /// Removes the ports of VMs that finished from the switch: their addresses are free from then on (lock not
  /// held; never called on the scheduler's behalf).
  private func releaseFinishedPorts() {
    guard let network else { return }
    let ports = table.withLock { table in
      defer { table.pendingPortReleases = [] }
      return table.pendingPortReleases
    }
    for port in ports { network.release(port) }
  }

  // MARK: Helpers

  /// Returns the room and names of `count` reserved VMs from `firstID` on that were not created, and their share
  /// of the reservation that began at `reservation` (lock not held).
  private func release(firstID: UInt64, count: Int, names: [String]?, reservation: UInt64) {
    table.withLock { $0.release(firstID: firstID, count: count, names: names, reservation: reservation) }
  }

  /// The id `vm` names; `.notFound` when none.
  private func resolve(_ vm: VMReference) throws(ControlBackendError) -> UInt64 {
    try table.withLock { (table) throws(ControlBackendError) -> UInt64 in try table.resolve(vm) }
  }

  private func console(of vm: VMReference) throws(ControlBackendError) -> ConsoleLog {
    let id = try resolve(vm)
    return try table.withLock { (table) throws(ControlBackendError) -> ConsoleLog in
      guard let entry = table.entries[id] else { throw .notFound("no \(vm)") }
      return entry.console
    }
  }

  /// The state of a VM whose console just ended.
  private func finalState(_ id: UInt64) -> VMState? {
    table.withLock { table in
      guard let entry = table.entries[id] else { return nil }
      return entry.state(status: nil)
    }
  }

  /// Rewrites the journal when appends have grown it well past the table it describes.
  private func compactJournalIfLarge() {
    journal.withLock { journal in
      let snapshot: (records: [VMRecord], nextID: UInt64)? = table.withLock { table in
        guard table.journalAppends > max(settings.journalCompactionAppends, table.entries.count / 8) else {
          return nil
        }
        table.journalAppends = 0
        return (table.entries.values.sorted { $0.record.id < $1.record.id }.map(\.record), table.nextID)
      }
      guard let snapshot else { return }
      do {
        try journal.rewrite(snapshot.records, nextID: snapshot.nextID)
      } catch {
        logger.warning("cannot compact the VM journal (it keeps growing, nothing is lost): \(error)")
      }
    }
  }
}

/// Hands the scheduler's finish reports to the engine, which is created after the scheduler.
final class FinishRelay: Sendable {
  /// A weak reference to the engine, set once it exists.
  private struct Target { weak var engine: EngineBackend? }
  private let stored = Locked(Target())

  /// The engine reports go to.
  var target: EngineBackend? {
    get { stored.withLock { $0.engine } }
    set { stored.withLock { $0.engine = newValue } }
  }

  /// Delivers one report.
  func deliver(_ report: VMReport) { target?.finished(report) }
}

/// A console subscription as the API layer sees it.
struct ConsoleFollower: ConsoleSubscription {
  /// The console's own subscription.
  let subscription: ConsoleLog.Subscription

  /// Stops the console's deliveries to this follower.
  func cancel() { subscription.cancel() }
}
