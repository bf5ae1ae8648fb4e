// ControlBackendFactory.swift: builds the engine behind `denalid serve` from its configuration.
import ControlAPI
import DenaliCore
import Foundation
import KVM
import Logging

/// Builds the engine behind the control API: opens `/dev/kvm` and the state directory, replays the VM journal
/// and rebuilds the VMs of the previous run. Runs after the socket is bound and before privileges are dropped;
/// it starts no thread (the engine's threads start in `ControlBackend.start()`).
func makeControlBackend(configuration: DaemonConfiguration) throws -> any ControlBackend {
  let logger = Logger(label: "denalid.engine")
  let layout: EngineBackend.StateLayout
  do {
    layout = try EngineBackend.StateLayout.open(configuration.stateDirectory)
  } catch {
    throw EngineStartError("state directory \(configuration.stateDirectory): \(error)")
  }
  let system = try KVMSystem()
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
    consoleBytes: Int(configuration.consoleBytes))
  let builder = VMBuilder(system: system, layout: layout, consoleBytes: settings.consoleBytes)
  let recovery = EngineRecovery.recover(
    journal: journal, images: images, swapStore: store, builder: builder, keptFinishedVMs: settings.keptFinishedVMs, logger: logger)
  if !recovery.guests.isEmpty || recovery.failed > 0 {
    logger.notice(
      "restarting \(recovery.guests.count) VMs after a \(recovery.previousStopWasClean ? "clean stop" : "crash"): \(recovery.fromSwap) from their swap image, \(recovery.fromImage) from their image; \(recovery.failed) could not be restarted"
    )
  }
  return EngineBackend(
    system: system, scheduler: scheduler, relay: relay, journal: journal, images: images, layout: layout,
    settings: settings, recovery: recovery, logger: logger)
}

/// The engine cannot start (its state directory is unusable).
struct EngineStartError: Error, CustomStringConvertible {
  /// The message.
  let description: String

  /// An error saying `description`.
  init(_ description: String) { self.description = description }
}
