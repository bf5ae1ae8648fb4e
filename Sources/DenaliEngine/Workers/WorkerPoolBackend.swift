// WorkerPoolBackend.swift: the engine behind the control API when VMs live in several VM worker processes: each
// process runs an engine of its own; this one spreads creations over them, keeps names and limits daemon-wide,
// and finds a VM's process from its id (leading digits) or by asking each for its name.
import ControlAPI
import DenaliCore
import Foundation
import Logging

/// A `ControlBackend` over VM worker processes.
public final class WorkerPoolBackend: ControlBackend {
  /// How many ids each process has: process k gives out ids from `k * idRange + 1` on, so a VM's id names its
  /// process in its leading digits (VM 5 of process 2 is 2000000000005).
  public static let idRange: UInt64 = 1_000_000_000_000

  /// Starts VM process `index` again after it died: its pid and the daemon's ends of its channel and (with a
  /// network) its trunk.
  public typealias Respawn = @Sendable (_ index: Int) throws -> (pid: Int32, descriptor: Int32, trunk: Int32?)

  /// The connection to each process (index order; one is replaced when its process is started again), and
  /// whether the daemon is stopping (then none is).
  private let connections = Locked<(list: [WorkerConnection], stopping: Bool)>(([], false))
  /// The connections now.
  private var processes: [WorkerConnection] { connections.withLock { $0.list } }
  private let limits: EngineLimits
  private let maximumVMs: Int
  /// Each process's share of the memory budget (nil: none), which bounds the largest VM any of them can admit.
  private let memoryBudgetPerProcess: UInt64?
  /// With a network: the hub joining the processes' switches and the TAP uplink.
  private let hub: UplinkHub?
  private let logger: Logger
  private let startedAt = Date()
  /// Held through each create: names and limits are checked against every process, then the VMs are created,
  /// with no other create in between. Holds what each process held when it last answered (nil before it has),
  /// which stands for a process that is gone: its VMs come back when it is started again.
  private let creating: Locked<[EngineHoldings?]>
  /// What runs once every process has answered its shutdown call (closing channels, reaping processes).
  private let afterShutdown: @Sendable () -> Void
  /// Starts a process that died again (nil: a dead process stays dead until the daemon restarts).
  private let respawn: Respawn?
  /// When each process was last started (monotonic nanoseconds) and how long to wait before the next start
  /// if it dies: doubled (up to `longestRestartDelay`) when it dies within `stableAfter` of its start.
  private let restarts: Locked<[(startedAt: UInt64, delay: Duration)]>

  /// The first wait before a process that died is started again.
  static let firstRestartDelay: Duration = .milliseconds(500)
  /// The longest wait between two starts of a process that keeps dying.
  static let longestRestartDelay: Duration = .seconds(60)
  /// A process that ran this long before it died is started again after the first delay.
  static let stableAfter: Duration = .seconds(60)
  /// How long a process started again may take to replay its journal and answer.
  static let restartAnswerTimeout: Duration = .seconds(600)

  /// A backend over the VM processes `processes` (index order: process k's channel at its descriptor), keeping
  /// `limits` and `maximumVMs` across all of them, each process with `memoryBudgetPerProcess` of the memory budget;
  /// a process that dies is started again through `respawn` (with backoff); `afterShutdown` runs once every
  /// process has stopped its engine.
  public init(
    processes: [(pid: Int32, descriptor: Int32)], limits: EngineLimits, maximumVMs: Int,
    memoryBudgetPerProcess: UInt64?, hub: UplinkHub? = nil, respawn: Respawn? = nil,
    afterShutdown: @escaping @Sendable () -> Void
  ) {
    let logger = Logger(label: "denalid.vm-processes")
    self.hub = hub
    self.memoryBudgetPerProcess = memoryBudgetPerProcess
    creating = Locked([EngineHoldings?](repeating: nil, count: processes.count))
    self.limits = limits
    self.maximumVMs = maximumVMs
    self.logger = logger
    self.afterShutdown = afterShutdown
    self.respawn = respawn
    let now = monotonicNanoseconds()
    restarts = Locked(Array(repeating: (now, Self.firstRestartDelay), count: processes.count))
    let list = processes.enumerated().map { index, process in
      makeConnection(index: index, pid: process.pid, descriptor: process.descriptor)
    }
    connections.withLock { $0.list = list }
  }

  /// A connection to process `index` that reports its loss to this backend.
  private func makeConnection(index: Int, pid: Int32, descriptor: Int32) -> WorkerConnection {
    WorkerConnection(index: index, pid: pid, descriptor: descriptor, logger: logger) { [weak self] lost in
      self?.processLost(lost)
    }
  }

  /// The first id process `index` gives out.
  public static func firstID(process index: Int) -> UInt64 { UInt64(index) * idRange + 1 }

  // MARK: ControlBackend (each method as the protocol documents it)

  /// Starts reading every channel and waits until every process answers (each has replayed its journal).
  public func start() throws {
    let processes = self.processes  // one snapshot: a process started again replaces its connection
    for process in processes { process.startReader() }
    for process in processes {
      guard case .health(let healthy, let detail) = try process.call(.health) else {
        throw EngineStartError("\(process.label) answered its first call with something else")
      }
      guard healthy else { throw EngineStartError("\(process.label) is not well: \(detail)") }
      if case .holdings(let held) = try process.call(.holdings(uid: 0)) {
        creating.withLock { $0[process.index] = held.all }
      }
    }
    logger.notice("\(processes.count) VM processes ready: \(processes.map { "pid \($0.pid)" }.joined(separator: ", "))")
    if let hub {
      try hub.start()
      logger.notice(
        "network hub joins the \(processes.count) VM processes' switches\(hub.routing.hasTap ? " and the uplink" : "")")
    }
  }

  public func createVMs(_ request: VMCreationRequest) throws(ControlBackendError) -> VMCreationResult {
    let processes = self.processes  // one snapshot: a process started again replaces its connection
    if let share = memoryBudgetPerProcess, request.memoryBytes > share {
      throw .invalid(
        "a VM of \(request.memoryBytes >> 20) MiB could never be admitted: each of the \(processes.count) VM processes has \(share >> 20) MiB of the memory budget (memory-budget / vm-processes)"
      )
    }
    return try creating.withLock { (lastHeld) throws(ControlBackendError) -> VMCreationResult in
      if let names = request.names {
        guard Set(names).count == names.count else {
          throw .conflict("the request names one VM twice")
        }
        for answer in try gather(.namesInUse(names)) {
          if case .names(let taken) = answer, let name = taken.first {
            throw .conflict("the name '\(name)' is already in use")
          }
        }
      }
      // A process that is gone gets no VMs, and counts what it held when it last answered (its VMs come back
      // at the next start), unless quotas need its holdings per user, which only it can tell.
      var all = EngineHoldings()
      var own = EngineHoldings()
      // Load: the guest memory a process holds (its share of the budget is what admits VMs), VMs breaking ties.
      var load: [(memory: UInt64, vms: Int)?] = []
      for (index, result) in gatherEach(.holdings(uid: request.requester.uid)).enumerated() {
        switch result {
        case .success(.holdings(let held)):
          lastHeld[index] = held.all
          all.add(held.all)
          own.add(held.own)
          load.append((held.all.memory, held.all.vms))
        case .success: throw .hostError("a VM process answered holdings wrongly")
        case .failure(.unavailable(let reason)):
          guard let known = lastHeld[index], limits.isEmpty else { throw .unavailable(reason) }
          all.add(known)
          load.append(nil)
        case .failure(let error): throw error
        }
      }
      guard load.contains(where: { $0 != nil }) else { throw .unavailable("every VM process is gone") }
      // An address asked for is given by the process whose part of the subnet holds it (any other refuses it).
      if let hub, let wanted = request.network?.address, let address = IPv4Address(wanted),
        let owner = hub.routing.owner(of: address)
      {
        guard load[owner] != nil else {
          throw .unavailable("\(processes[owner].label), which gives out \(wanted), is gone")
        }
        for index in load.indices where index != owner { load[index] = nil }
      }
      if !limits.isEmpty {
        try limits.check(
          count: request.count, memory: request.memoryBytes, disk: request.diskBytes ?? 0,
          requester: request.requester, all: all, own: own)
      }
      let room = maximumVMs - all.vms
      guard room > 0 else { throw .limitReached("the daemon keeps \(maximumVMs) VMs at most (max-vms), all live") }
      let count = min(request.count, room)
      let shortBy: ControlBackendError? =
        count < request.count
        ? .limitReached("created \(count) of \(request.count): the daemon keeps \(maximumVMs) VMs at most (max-vms)")
        : nil
      // The least loaded process takes the next VM; each process's share is one call, all sent before any wait,
      // so the processes create their VMs at the same time.
      var shares = [Int](repeating: 0, count: processes.count)
      for _ in 0..<count {
        let live = load.indices.compactMap { index in load[index].map { (index, $0) } }
        guard let least = live.min(by: { $0.1 < $1.1 })?.0, let current = load[least] else { break }
        shares[least] += 1
        load[least] = (current.memory + request.memoryBytes, current.vms + 1)
      }
      var calls: [(process: WorkerConnection, number: UInt64)] = []
      var failures: [ControlBackendError] = []
      var offset = 0
      for (index, share) in shares.enumerated() where share > 0 {
        var part = request
        part.count = share
        part.names = request.names.map { Array($0[offset..<offset + share]) }
        offset += share
        do throws(ControlBackendError) {
          calls.append((processes[index], try processes[index].begin(.create(WorkerCreation(part)))))
        } catch {
          failures.append(error)
        }
      }
      var created: [VMInfo] = []
      for (process, number) in calls {
        do throws(ControlBackendError) {
          guard
            case .created(let infos, let stoppedBy) = try process.wait(number, timeout: WorkerConnection.callTimeout)
          else { throw ControlBackendError.hostError("\(process.label) answered a create wrongly") }
          created += infos
          // Until the process answers again, what it holds is what it held before and what it just created.
          lastHeld[process.index]?.add(
            EngineHoldings(count: infos.count, memory: request.memoryBytes, disk: request.diskBytes ?? 0))
          if let stoppedBy { failures.append(stoppedBy) }
        } catch {
          failures.append(error)
        }
      }
      guard !created.isEmpty else { throw failures.first ?? .hostError("no VM was created") }
      return VMCreationResult(created: created, stoppedBy: failures.first ?? shortBy)
    }
  }

  public func listVMs() -> [VMInfo] {
    var vms: [VMInfo] = []
    for process in processes {
      if case .vms(let some)? = try? process.call(.list) { vms += some }
    }
    return vms.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
  }

  public func inspectVM(_ vm: VMReference) throws(ControlBackendError) -> VMInfo {
    let (process, reference) = try locate(vm)
    return try expectVM(try process.call(.inspect(reference)), from: process)
  }

  public func killVM(_ vm: VMReference) throws(ControlBackendError) -> VMInfo {
    let (process, reference) = try locate(vm)
    return try expectVM(try process.call(.kill(reference)), from: process)
  }

  public func consoleTail(_ vm: VMReference, lines: Int) throws(ControlBackendError) -> [UInt8] {
    let (process, reference) = try locate(vm)
    guard case .bytes(let data) = try process.call(.consoleTail(reference, lines: lines)) else {
      throw .hostError("\(process.label) answered a console call wrongly")
    }
    return Array(data)
  }

  public func followConsole(
    _ vm: VMReference, tailLines: Int, handler: @escaping @Sendable (ConsoleEvent) -> Void
  ) throws(ControlBackendError) -> any ConsoleSubscription {
    let (process, reference) = try locate(vm)
    return try process.follow(reference, tailLines: tailLines, handler: handler)
  }

  public func statistics() -> DaemonStatistics {
    var total = DaemonStatistics(uptimeSeconds: Date().timeIntervalSince(startedAt))
    for process in processes {
      guard case .statistics(let part)? = try? process.call(.statistics) else { continue }
      for (kind, count) in part.vmsByState { total.vmsByState[kind, default: 0] += count }
      total.vmsCreatedTotal += part.vmsCreatedTotal
      total.memoryBudgetBytes += part.memoryBudgetBytes
      total.memoryAdmittedBytes += part.memoryAdmittedBytes
      total.memoryResidentBytes += part.memoryResidentBytes
      total.swapBytes += part.swapBytes
      total.swapOutsTotal += part.swapOutsTotal
      total.swapInsTotal += part.swapInsTotal
      total.cpuTimeNanosecondsTotal += part.cpuTimeNanosecondsTotal
      total.exitsTotal += part.exitsTotal
      total.hypercallsTotal += part.hypercallsTotal
      total.workers += part.workers
      if let network = part.network { total.network = Self.adding(network, to: total.network) }
    }
    if let hub, var network = total.network {
      // The host's view of the uplink is the hub's: the processes' uplinks are their trunks to it.
      let figures = hub.statistics
      network.uplinkPacketsIn = figures.tap.packetsIn
      network.uplinkBytesIn = figures.tap.bytesIn
      network.uplinkPacketsOut = figures.tap.packetsOut
      network.uplinkBytesOut = figures.tap.bytesOut
      var drops = figures.tap.dropsByName
      for (reason, count) in figures.trunkDrops.dropsByName where count > 0 { drops[reason, default: 0] &+= count }
      network.uplinkDrops = drops
      network.forwardedTotal &+= figures.betweenProcesses
      total.network = network
    }
    return total
  }

  /// `part`'s addresses and switch figures added to `total` (the settings are the same in every process).
  private static func adding(_ part: NetworkStatistics, to total: NetworkStatistics?) -> NetworkStatistics {
    guard var sum = total else { return part }
    sum.addressesInUse += part.addressesInUse
    sum.addressesFree += part.addressesFree
    sum.forwardedTotal &+= part.forwardedTotal
    sum.arpAnsweredTotal &+= part.arpAnsweredTotal
    return sum
  }

  public func health() -> BackendHealth {
    var details: [String] = []
    for process in processes {
      do {
        guard case .health(let healthy, let detail) = try process.call(.health, timeout: .seconds(10)) else {
          return BackendHealth(healthy: false, detail: "\(process.label) answered wrongly")
        }
        guard healthy else { return BackendHealth(healthy: false, detail: "\(process.label): \(detail)") }
        details.append(detail)
      } catch {
        return BackendHealth(healthy: false, detail: "\(error)")
      }
    }
    return BackendHealth(
      healthy: true, detail: "ok: \(processes.count) VM processes (\(details.joined(separator: "; ")))")
  }

  /// Asks every process to stop (each swaps its VMs out and writes its journal, all at the same time), then
  /// closes the channels.
  public func shutdown() {
    // From here on no process is started again: the list is final.
    let processes = connections.withLock { state in
      state.stopping = true
      return state.list
    }
    let calls = processes.compactMap { process in (try? process.begin(.shutdown)).map { (process, $0) } }
    for (process, number) in calls {
      do {
        _ = try process.wait(number, timeout: WorkerConnection.callTimeout)
      } catch {
        logger.error("\(process.label) did not stop cleanly: \(error)")
      }
    }
    hub?.stop()
    for process in processes { process.close() }
    afterShutdown()
  }

  // MARK: Starting a process again

  /// Process `lost.index` died (its channel ended unasked): on this thread (its reader's, which has nothing else
  /// to do), waits the process's restart delay, starts it again, joins its switch to the hub, waits for its
  /// first answer (it has replayed its journal: its VMs are back, from their swap images or their images) and
  /// puts it in the dead one's place; a failed start is tried again after a longer delay. Nothing while the
  /// daemon stops.
  private func processLost(_ lost: WorkerConnection) {
    let index = lost.index
    // Only the connection in place: one that died before it was put there is its starter's to retry.
    guard let respawn, connections.withLock({ $0.list.indices.contains(index) && $0.list[index] === lost }) else {
      return
    }
    var delay = nextRestartDelay(index, afterDeath: true)
    // How it ended, when it is this process's child (the ones the spawner started are its to reap and report).
    let end = ProcessEnd.reap(lost.pid).map { " (\($0))" } ?? ""
    while !connections.withLock({ $0.stopping }) {
      logger.notice("VM process \(index) is gone\(end): starting it again in \(delay)")
      Thread.sleep(forTimeInterval: Double(nanoseconds(delay)) / 1e9)
      guard !connections.withLock({ $0.stopping }) else { return }
      do {
        try startAgain(index, through: respawn)
        return
      } catch {
        logger.error("VM process \(index) could not be started again: \(error)")
        delay = nextRestartDelay(index, afterDeath: false)
      }
    }
  }

  /// How long to wait before the next start of process `index`, the wait after it doubled (up to
  /// `longestRestartDelay`). After a death (`afterDeath`), a process that ran `stableAfter` since its last start
  /// waits the first delay again; a start that failed never resets it.
  private func nextRestartDelay(_ index: Int, afterDeath: Bool) -> Duration {
    restarts.withLock { restarts in
      let ran = monotonicNanoseconds() &- restarts[index].startedAt
      let stable = afterDeath && ran >= nanoseconds(Self.stableAfter)
      let delay = stable ? Self.firstRestartDelay : restarts[index].delay
      restarts[index].delay = min(delay * 2, Self.longestRestartDelay)
      return delay
    }
  }

  /// Starts process `index` again and puts it in place once it answers.
  private func startAgain(_ index: Int, through respawn: Respawn) throws {
    let started = try respawn(index)
    restarts.withLock { $0[index].startedAt = monotonicNanoseconds() }
    let connection = makeConnection(index: index, pid: started.pid, descriptor: started.descriptor)
    if let trunk = started.trunk {
      do {
        let uplink = try DescriptorUplink(descriptor: trunk, name: "denali-trunk-\(index)", nonBlocking: true)
        try hub?.replaceTrunk(index, with: uplink)
      } catch {
        connection.close()
        throw error
      }
    }
    connection.startReader()
    do {
      guard case .health = try connection.call(.health, timeout: Self.restartAnswerTimeout),
        case .holdings(let held) = try connection.call(.holdings(uid: 0))
      else { throw EngineStartError("\(connection.label) answered its first calls wrongly") }
      creating.withLock { $0[index] = held.all }
    } catch {
      connection.close()
      throw error
    }
    let placed = connections.withLock { state -> Bool in
      guard !state.stopping else { return false }
      state.list[index] = connection
      return true
    }
    guard placed else {
      // The daemon began to stop meanwhile: the process stops its engine when its channel ends.
      connection.close()
      return
    }
    logger.notice("\(connection.label) started again: its VMs are back")
  }

  // MARK: Routing

  /// Sends `call` to every process at once and returns their answers in process order.
  private func gather(_ call: WorkerCall) throws(ControlBackendError) -> [WorkerAnswer] {
    let processes = self.processes  // one snapshot: a process started again replaces its connection
    var numbers: [UInt64] = []
    for process in processes {
      do throws(ControlBackendError) {
        numbers.append(try process.begin(call))
      } catch {
        // The calls already sent are answered to nobody: their answers are dropped when they come.
        for (begun, number) in zip(processes, numbers) { begun.forget(number) }
        throw error
      }
    }
    var answers: [WorkerAnswer] = []
    for (process, number) in zip(processes, numbers) {
      answers.append(try process.wait(number, timeout: WorkerConnection.callTimeout))
    }
    return answers
  }

  /// Sends `call` to every process that is still there at once, and returns each one's answer or error in process
  /// order (a process that is gone: `.unavailable`).
  private func gatherEach(_ call: WorkerCall) -> [Result<WorkerAnswer, ControlBackendError>] {
    let processes = self.processes  // one snapshot: a process started again replaces its connection
    let begun = processes.map { process in
      Result { () throws(ControlBackendError) -> UInt64 in try process.begin(call) }
    }
    return zip(processes, begun).map { process, number in
      number.flatMap { number in
        Result { () throws(ControlBackendError) -> WorkerAnswer in
          try process.wait(number, timeout: WorkerConnection.callTimeout)
        }
      }
    }
  }

  /// The process holding `vm`, and how to name it there: an id names its process in its leading digits; a name is
  /// looked up in every process (at most one has it).
  private func locate(_ vm: VMReference) throws(ControlBackendError) -> (WorkerConnection, VMReference) {
    let processes = self.processes  // one snapshot: a process started again replaces its connection
    switch vm {
    case .id(let id):
      let index = Int(id / Self.idRange)
      guard index < processes.count else { throw .notFound("no \(vm)") }
      return (processes[index], .id(id))
    case .name:
      var unreachable: ControlBackendError?
      let numbers = processes.map { (process) -> UInt64? in
        do throws(ControlBackendError) {
          return try process.begin(.inspect(vm))
        } catch {
          unreachable = error
          return nil
        }
      }
      var found: (WorkerConnection, VMReference)?
      for (process, number) in zip(processes, numbers) {
        guard let number else { continue }
        do throws(ControlBackendError) {
          if case .vm(let info) = try process.wait(number, timeout: WorkerConnection.callTimeout) {
            found = (process, .id(info.id))
          }
        } catch {
          if case .notFound = error { continue }
          unreachable = error
        }
      }
      if let found { return found }
      throw unreachable ?? .notFound("no \(vm)")
    }
  }

  /// The VM in `answer`.
  private func expectVM(_ answer: WorkerAnswer, from process: WorkerConnection) throws(ControlBackendError) -> VMInfo {
    guard case .vm(let info) = answer else { throw .hostError("\(process.label) answered wrongly") }
    return info
  }
}
