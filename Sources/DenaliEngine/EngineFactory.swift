// EngineFactory.swift: builds the engine behind `denalid serve` from its settings.
import ControlAPI
import DenaliCore
import Foundation
import KVM
import Logging
import TrustedFiles

/// What the engine is built with (`denalid serve` fills it from its configuration file and flags).
public struct EngineConfiguration: Sendable {
  /// The state directory (journal, swap files, stored images, scratch disks).
  public var stateDirectory: String
  /// Worker threads (0: one per core).
  public var workers: Int
  /// Bytes of guest memory that may be in memory at once.
  public var memoryBudget: UInt64
  /// Threads doing swap I/O.
  public var swapThreads: Int
  /// Most VMs kept at once, finished ones included.
  public var maximumVMs: Int
  /// Finished VMs kept for `list` and `inspect` at most.
  public var keptFinishedVMs: Int
  /// Console bytes kept per VM.
  public var consoleBytes: UInt64
  /// Journal appends after which a create request rewrites the journal (at least; more with many VMs kept).
  var journalCompactionAppends = 1_000
  /// The virtual network VMs may have NICs on; nil for none.
  public var network: EngineNetworkConfiguration?
  /// Per-user quotas and the daemon-wide disk limits (none by default).
  public var limits = EngineLimits()
  /// The lowest id a new VM may take (a VM process's ids start at its own base, so ids are daemon-wide).
  public var firstID: UInt64 = 1

  /// Settings with every field given.
  public init(
    stateDirectory: String, workers: Int, memoryBudget: UInt64, swapThreads: Int, maximumVMs: Int,
    keptFinishedVMs: Int, consoleBytes: UInt64, limits: EngineLimits = EngineLimits(),
    network: EngineNetworkConfiguration? = nil
  ) {
    self.stateDirectory = stateDirectory
    self.workers = workers
    self.memoryBudget = memoryBudget
    self.swapThreads = swapThreads
    self.maximumVMs = maximumVMs
    self.keptFinishedVMs = keptFinishedVMs
    self.consoleBytes = consoleBytes
    self.network = network
    self.limits = limits
  }
}

/// Builds the engine behind the control API: opens `/dev/kvm` and the state directory, creates the network's
/// TAP device, replays the VM journal and rebuilds the VMs of the previous run (with their addresses). Runs after
/// the socket is bound and before privileges are dropped; it starts no thread (the engine's threads, the switch's
/// and the uplink's start in `ControlBackend.start()`).
public func makeControlBackend(configuration: EngineConfiguration) throws -> any ControlBackend {
  let logger = Logger(label: "denalid.engine")
  let layout: EngineBackend.StateLayout
  do {
    layout = try EngineBackend.StateLayout.open(configuration.stateDirectory)
  } catch {
    throw EngineStartError("state directory \(configuration.stateDirectory): \(error)")
  }
  let stateLock = try StateDirectoryLock(layout.root, path: configuration.stateDirectory)
  let system = try KVMSystem()
  let network: EngineNetwork?
  do {
    network = try configuration.network.map { (settings) throws(NetworkError) -> EngineNetwork in
      try EngineNetwork(configuration: settings)
    }
  } catch {
    let tap = configuration.network?.uplink.map { "tap \($0.tapName)" } ?? "none"
    throw EngineStartError("uplink \(tap): \(error) (creating a TAP device needs CAP_NET_ADMIN)")
  }
  let store = SwapStore(directory: layout.swap)
  let journal = try VMJournal(directory: layout.root)
  let images = ImageStore(directory: layout.images)
  let relay = FinishRelay()
  let workers = configuration.workers == 0 ? ProcessInfo.processInfo.activeProcessorCount : configuration.workers
  let swapping = Scheduler.Swapping(
    memoryBudget: configuration.memoryBudget, store: store, system: system, threads: configuration.swapThreads,
    log: { logger.warning("\($0)") })
  let scheduler = Scheduler(
    configuration: .init(workers: workers, swapping: swapping, onFinish: { relay.deliver($0) }))
  let settings = EngineBackend.Settings(
    maximumVMs: configuration.maximumVMs, keptFinishedVMs: configuration.keptFinishedVMs,
    consoleBytes: Int(configuration.consoleBytes), journalCompactionAppends: configuration.journalCompactionAppends,
    limits: configuration.limits)
  let builder = VMBuilder(
    system: system, layout: layout, consoleBytes: settings.consoleBytes, diskImages: SharedDiskImages(store: images))
  let recovery = EngineRecovery.recover(
    journal: journal, images: images, swapStore: store, builder: builder, network: network,
    keptFinishedVMs: settings.keptFinishedVMs, firstID: configuration.firstID, logger: logger)
  if !recovery.guests.isEmpty || recovery.failed > 0 {
    logger.notice(
      "restarting \(recovery.guests.count) VMs after a \(recovery.previousStopWasClean ? "clean stop" : "crash"): \(recovery.fromSwap) from their swap image, \(recovery.fromImage) from their image; \(recovery.failed) could not be restarted"
    )
  }
  return EngineBackend(
    builder: builder, scheduler: scheduler, relay: relay, journal: journal, images: images, layout: layout,
    settings: settings, network: network, recovery: recovery, stateLock: stateLock, logger: logger)
}

/// Every directory the engine keeps its state in under `root` (the daemon must be able to write each).
public func engineStateDirectories(root: String) -> [String] { EngineBackend.StateLayout.directories(root: root) }

/// The engine cannot start (its state directory is unusable).
public struct EngineStartError: Error, CustomStringConvertible {
  /// The message.
  public let description: String

  /// An error saying `description`.
  public init(_ description: String) { self.description = description }
}

/// Opens (creating what is missing) the state directory at `root` and its folders, and the folder of each VM
/// process from 1 to `vmProcesses - 1` (`folder(k)` names it), before those processes, which keep their own state
/// inside them, start. A folder that is a symbolic link, or that another user could change, is refused like any
/// folder of the state directory (a VM process opens its folder by path).
public func prepareEngineState(root: String, vmProcesses: Int, folder: (Int) -> String) throws {
  do {
    let layout = try EngineBackend.StateLayout.open(root)
    for index in 1..<max(1, vmProcesses) { _ = try layout.root.subdirectory(folder(index)) }
  } catch {
    throw EngineStartError("state directory \(root): \(error)")
  }
}
