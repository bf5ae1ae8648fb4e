// VMProcessMain.swift: `denalid serve --vm-process K`: one VM process of a daemon with `vm-processes` above 1:
// its own engine (KVM VMs, scheduler, journal in its part of the state directory) serving the daemon's calls on
// descriptor 3 until the daemon closes it.
import ControlAPI
import DenaliCommandLine
import DenaliEngine
import Glibc
import KVM
import Logging
import ThreadConfinement

/// The VM process's life: engine, privileges, filters, calls.
enum VMProcessMain {
  /// Runs VM process `index` of `configuration`; returns its exit status.
  static func run(index: Int, configuration: DaemonConfiguration) -> Int32 {
    umask(0o077)
    // The daemon stops its VM processes through their channels: a SIGINT from the terminal or a SIGTERM to the
    // whole group must not stop one before the daemon has asked it to swap its VMs out.
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let level = LogLevelName.parse(configuration.logLevel) ?? .info
    LoggingSystem.bootstrap { label in
      var handler = JournalLogHandler(label: label + "[vm-process \(index)]")
      handler.logLevel = level
      return handler
    }
    let logger = Logger(label: "denalid")
    raiseDescriptorLimit()
    let engine = configuration.engine(vmProcess: index)
    let backend: any ControlBackend
    do {
      backend = try makeControlBackend(configuration: engine)
    } catch {
      logger.critical("cannot start the engine: \(error)")
      return ExitStatus.hostError
    }
    do {
      _ = try Privileges.drop()
    } catch {
      logger.critical("cannot drop privileges: \(error)")
      backend.shutdown()
      return ExitStatus.hostError
    }
    if let failure = SeccompSetup.enable(logger: nil) {
      logger.critical("cannot turn the system-call filters on: \(failure)")
      backend.shutdown()
      return ExitStatus.hostError
    }
    KVMSystem.stabilizeHeapForManyVMs()  // after the filters' set-up, as serve does
    do {
      try AccessCheck.requireWritable(engineStateDirectories(root: engine.stateDirectory))
      try backend.start()
    } catch {
      logger.critical("the engine failed to start: \(error)")
      backend.shutdown()
      return ExitStatus.hostError
    }
    guard
      let host = WorkerHost(
        serving: backend, descriptor: VMProcessLauncher.channelDescriptor, handlers: configuration.apiThreads + 2)
    else {
      logger.critical("the engine is not one a VM process can serve")
      backend.shutdown()
      return ExitStatus.hostError
    }
    host.startHandlers()
    ThreadConfinement.enter(.channel)
    host.run()
    return 0
  }
}
