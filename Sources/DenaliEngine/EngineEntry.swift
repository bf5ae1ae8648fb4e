// EngineEntry.swift: what the daemon's engine keeps about one VM between API calls.
import ControlAPI
import DenaliCore
import Foundation

/// One VM the engine keeps (live or finished): its durable record, its console, and the figures the API shows
/// once the scheduler has forgotten it. Guarded by the engine's lock, except `console`, which has its own.
final class EngineEntry {
  /// The durable record (what the journal holds).
  var record: VMRecord
  /// The console output kept for the API.
  let console: ConsoleLog
  /// Set when an operator killed the VM: its end is `killed` whatever the scheduler reports.
  var killRequested = false
  /// CLOCK_MONOTONIC when the create request reached the engine; nil for a VM restored after a restart.
  let requestedAt: UInt64?
  /// The accounting of its last run, as the scheduler reported it when the VM finished.
  var finalAccounting: VMAccounting?
  /// Its scratch disk's name in the state's `disks` directory, removed when the VM ends.
  let diskName: String?
  /// Its NIC's port on the switch while it is live (nil without a NIC, once it ended, or when a restart could not
  /// give it its recorded address back). Its counters are read only outside the engine's lock (a port's lock
  /// comes before the scheduler's, which comes before the engine's).
  var port: NetworkPort?

  /// An entry for `record`.
  init(record: VMRecord, console: ConsoleLog, requestedAt: UInt64?, diskName: String?, port: NetworkPort? = nil) {
    self.record = record
    self.console = console
    self.requestedAt = requestedAt
    self.diskName = diskName
    self.port = port
  }

  /// A live port's counters and receive-queue length, read at one moment (outside the engine's lock).
  typealias PortReading = (counters: NetworkCounters, queued: Int)

  /// True once the VM has ended.
  var hasEnded: Bool { record.end != nil }

  /// The VM as the API reports it, from the scheduler's `status` and its port's `reading` while it is live.
  func info(status: VMStatus?, now: (monotonic: UInt64, wall: Date), reading: PortReading? = nil) -> VMInfo {
    let accounting = status?.accounting ?? finalAccounting ?? VMAccounting()
    let usage = usage(status: status, nic: reading?.counters)
    let state = state(status: status)
    let residentBytes: UInt64
    switch status?.phase {
    case .running?, .runnable?, .idle?, .swappingOut?: residentBytes = record.memorySize
    default: residentBytes = 0
    }
    var startedAt: Date?
    var latency: UInt64?
    if let first = accounting.firstHypercallAt {
      startedAt = now.wall.addingTimeInterval(-Double(now.monotonic &- first) / 1e9)
      if let requestedAt, first >= requestedAt { latency = first - requestedAt }
    }
    return VMInfo(
      id: record.id, name: record.name, image: record.imagePath, state: state, memoryBytes: record.memorySize,
      residentBytes: residentBytes, swapBytes: 0, diskBytes: record.diskSize ?? 0, arguments: record.arguments,
      cpuTimeNanoseconds: usage.cpuNanoseconds, exits: Self.exits(usage), hypercalls: usage.hypercalls,
      createdAt: Date(timeIntervalSince1970: record.createdAt), startedAt: startedAt,
      endedAt: record.endedAt.map { Date(timeIntervalSince1970: $0) },
      restoredFrom: record.startedFrom == .swap ? .swap : .image, restarts: record.restarts,
      startLatencyNanoseconds: latency, address: record.address?.description,
      network: networkInfo(usage: usage, queued: reading?.queued ?? 0), owner: record.owner,
      diskImage: record.diskImagePath)
  }

  /// The NIC as the API reports it: identity and whole-life counters; nil without an address.
  private func networkInfo(usage: VMUsage, queued: Int) -> VMNetworkInfo? {
    guard let address = record.address else { return nil }
    let counters = usage.network ?? NetworkCounters()
    return VMNetworkInfo(
      mac: MACAddress(forVMAt: address).description, attached: port != nil && !hasEnded && !killRequested,
      packetsIn: counters.packetsIn, bytesIn: counters.bytesIn, packetsOut: counters.packetsOut,
      bytesOut: counters.bytesOut, sendsDeferred: counters.sendsDeferred, drops: counters.dropsByName,
      queuedFrames: hasEnded ? 0 : queued)
  }

  /// The VM's state: killed, its recorded end, else its phase in the scheduler's `status`.
  func state(status: VMStatus?) -> VMState {
    if killRequested { return .killed }
    if let end = record.end { return Self.state(for: end) }
    if let status { return Self.state(for: status.phase) }
    // Finished a moment ago; its end is being recorded.
    return .running
  }

  /// What the VM has used over its whole life: earlier runs plus, while it is live, this one (with `nic`, its
  /// port's counters read now, in place of those of its last slice).
  func usage(status: VMStatus?, nic: NetworkCounters? = nil) -> VMUsage {
    guard !hasEnded else { return record.usage }
    var current = status?.accounting ?? VMAccounting()
    if let nic { current.network = nic }
    return record.usage.adding(current)
  }

  /// The API state of a live VM in `phase`.
  static func state(for phase: VMStatus.Phase) -> VMState {
    switch phase {
    case .running: .running
    case .runnable: .runnable
    case .idle: .idle
    case .waitingForAdmission: .waitingForAdmission
    case .swappedOut: .swappedOut
    case .swappingOut: .swappingOut
    case .swappingIn: .swappingIn
    case .finished: .running
    }
  }

  /// The API state of a VM that ended this way.
  static func state(for end: VMEnd) -> VMState {
    switch end {
    case .exited(let status): .exited(status: status)
    case .faulted(let description): .faulted(description: description)
    case .killed: .killed
    case .timedOut: .faulted(description: "timed out")
    case .hostFailed(let description): .faulted(description: "host failure (not the guest's): \(description)")
    }
  }

  /// How the engine records a scheduler outcome.
  static func end(for outcome: VMOutcome, killed: Bool) -> VMEnd {
    if killed { return .killed }
    switch outcome {
    case .exited(let status): return .exited(status: status)
    case .faulted(let fault): return .faulted(description: "\(fault)")
    case .timedOut: return .timedOut
    case .hostFailed(let reason): return .hostFailed(description: reason)
    }
  }

  /// Exit counts by kind, as the API names them.
  static func exits(_ usage: VMUsage) -> [String: UInt64] {
    ["io": usage.exitsIO, "mmio": usage.exitsMMIO, "interrupted": usage.exitsInterrupted, "other": usage.exitsOther]
  }
}
