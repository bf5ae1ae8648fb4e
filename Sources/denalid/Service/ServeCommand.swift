// ServeCommand.swift: `denalid serve`: the daemon: configuration, logging, socket, privileges, API, signals.
import ArgumentParser
import ControlAPI
import DenaliCommandLine
import DenaliCore
import DenaliEngine
import Foundation
import Glibc
import KVM
import Logging
import Metrics
import Prometheus
import ThreadConfinement
import TrustedFiles

/// `denalid serve [--config FILE] [--socket PATH] ... [--check-config]`.
struct ServeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Run the daemon: VMs driven through the HTTP/JSON control API on a unix socket.",
    discussion: """
      Settings come from the configuration file (default \(DaemonConfiguration.defaultPath) when it exists, else the
      built-in defaults documented in Config/denalid.conf); every flag overrides the key of the same name. The
      daemon binds the socket (mode 0660, owned by --socket-group), builds the engine (and creates the uplink's
      TAP device), drops every capability, sets no-new-privileges, and serves until SIGTERM or SIGINT. See
      Docs/API.md.

      Keys (in the file `key = value`, as a flag `--key VALUE` or `--key=VALUE`):
      \(ConfigurationKey.all.map { "  --\($0.name): \($0.help)" }.joined(separator: "\n"))
      """
  )

  @Option(help: "Configuration file (default: \(DaemonConfiguration.defaultPath) if it exists).")
  var config: String?

  @Argument(
    parsing: .allUnrecognized,
    help: ArgumentHelp("Any configuration key as a flag (listed below), overriding the file.", valueName: "--KEY VALUE")
  )
  var settings: [String] = []

  @Flag(help: "Print the effective configuration and exit.")
  var checkConfig = false

  @Flag(help: "Print the systemd unit's MemoryMax= and TasksMax= for the effective configuration and exit.")
  var unitLimits = false

  @Flag(help: "Stop, as on SIGTERM, when the process that started the daemon exits (for tests and benchmarks).")
  var stopWithParent = false

  /// Set by the daemon for the VM processes it starts (`vm-processes`): run VM process K on descriptor 3.
  @Option(help: .hidden)
  var vmProcess: Int?

  /// Set by the daemon for the process that starts VM processes again (`VMProcessSpawner`), on descriptor 3.
  @Flag(help: .hidden)
  var vmProcessSpawner = false

  func run() throws {
    let configuration: DaemonConfiguration
    do {
      configuration = try effectiveConfiguration()
    } catch {
      printError("denalid: \(error)")
      throw ExitCode(ExitStatus.usage)
    }
    if unitLimits {
      StandardStream.write(UnitLimits(configuration, cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))).rendered, to: 1)
      return
    }
    if checkConfig {
      StandardStream.write(configuration.rendered, to: 1)
      return
    }
    if let vmProcess {
      guard vmProcess >= 0, vmProcess < configuration.vmProcesses else {
        printError("denalid: --vm-process \(vmProcess) is not one of this configuration's vm-processes")
        throw ExitCode(ExitStatus.usage)
      }
      throw ExitCode(VMProcessMain.run(index: vmProcess, configuration: configuration))
    }
    if vmProcessSpawner {
      guard configuration.vmProcesses > 1 else {
        printError("denalid: --vm-process-spawner needs vm-processes above 1")
        throw ExitCode(ExitStatus.usage)
      }
      throw ExitCode(VMProcessSpawner.run(configuration: configuration, arguments: configurationWords))
    }
    throw ExitCode(serve(configuration))
  }

  /// Defaults, then the file, then the flags; validated.
  func effectiveConfiguration() throws(ConfigurationError) -> DaemonConfiguration {
    var configuration = DaemonConfiguration()
    if let config {
      try configuration.load(file: config)
    } else if access(DaemonConfiguration.defaultPath, F_OK) == 0 {
      try configuration.load(file: DaemonConfiguration.defaultPath)
    }
    let flags = try Self.pairs(settings)
    if flags.contains(where: { $0.key == "image-dir" }) { configuration.imageDirectories = [] }
    for (key, value) in flags { try configuration.set(key, value) }
    try configuration.validate()
    return configuration
  }

  /// `--key value` and `--key=value` words as (key, value) pairs; anything else is a usage error.
  static func pairs(_ words: [String]) throws(ConfigurationError) -> [(key: String, value: String)] {
    var pairs: [(key: String, value: String)] = []
    var index = 0
    while index < words.count {
      let word = words[index]
      guard word.hasPrefix("--"), word.count > 2 else { throw .unexpectedArgument(word) }
      let flag = word.dropFirst(2)
      if let equals = flag.firstIndex(of: "=") {
        pairs.append((String(flag[..<equals]), String(flag[flag.index(after: equals)...])))
        index += 1
        continue
      }
      guard ConfigurationKey.named(String(flag)) != nil else { throw .unknownKey(String(flag)) }
      guard index + 1 < words.count else { throw .badValue(String(flag), "", "a value after --\(flag)") }
      pairs.append((String(flag), words[index + 1]))
      index += 2
    }
    return pairs
  }

  /// Runs the daemon until SIGTERM or SIGINT; returns the exit status.
  private func serve(_ configuration: DaemonConfiguration) -> Int32 {
    let parent = getppid()
    // Everything the daemon creates (state, swap files, disks) is its own: the modes it asks for are exact
    // whatever umask it was started with (a umask that masks the owner's bits would leave directories that
    // only root's capabilities, dropped below, could reach).
    umask(0o077)
    // Signals are taken by sigwait on this thread; block them now, before any thread exists, so that every
    // thread inherits the mask and none of them is picked to run a default handler.
    var signals = sigset_t()
    sigemptyset(&signals)
    for signal in [SIGTERM, SIGINT] { sigaddset(&signals, signal) }
    pthread_sigmask(SIG_BLOCK, &signals, nil)

    let level = LogLevelName.parse(configuration.logLevel) ?? .info
    LoggingSystem.bootstrap { label in
      var handler = JournalLogHandler(label: label)
      handler.logLevel = level
      return handler
    }
    let logger = Logger(label: "denalid")
    let registry = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    raiseDescriptorLimit()

    let groupID: gid_t?
    let adminGroupID: gid_t?
    do {
      groupID = try Self.groupID(configuration.socketGroup)
      adminGroupID = try configuration.adminGroup.flatMap { (name) throws(ConfigurationError) in
        try Self.groupID(name, key: "admin-group")
      }
    } catch {
      logger.critical("\(error)")
      return ExitStatus.usage
    }
    let socket: ControlSocket
    do {
      socket = try ControlSocket.create(path: configuration.socketPath, groupID: groupID)
    } catch {
      logger.critical("cannot open the control socket: \(error)")
      return ExitStatus.hostError
    }
    // From here on every exit path closes the descriptor and removes the socket file.
    var serverOwnsSocket = false
    defer {
      if !serverOwnsSocket {
        close(socket.descriptor)
        socket.removeFile()
      }
    }
    let backend: any ControlBackend
    do {
      backend = try makeBackend(configuration)
    } catch {
      logger.critical("cannot start the engine: \(error)")
      return ExitStatus.hostError
    }
    do {
      let sets = try Privileges.drop()
      logger.info("dropped privileges: \(sets)")
    } catch {
      logger.critical("cannot drop privileges: \(error)")
      backend.shutdown()
      return ExitStatus.hostError
    }
    // Every thread started from here on (engine, switch, uplink, API) installs its own seccomp filter first.
    PeerPolicy.warmUpUserDatabase()
    if let failure = SeccompSetup.enable(logger: logger) {
      logger.critical("cannot turn the system-call filters on: \(failure)")
      backend.shutdown()
      return ExitStatus.hostError
    }
    // After the filters' set-up, whose heap shrink (glibc's one read of /proc/sys/vm/overcommit_memory) must
    // still return its memory.
    KVMSystem.stabilizeHeapForManyVMs()
    do {
      try AccessCheck.requireWritable(
        configuration.vmProcesses > 1
          ? [configuration.stateDirectory] : engineStateDirectories(root: configuration.stateDirectory))
      for warning in try AccessCheck.requireReadable(imageDirectories: configuration.imageDirectories) {
        logger.warning("\(warning)")
      }
    } catch {
      logger.critical("\(error)")
      backend.shutdown()
      return ExitStatus.hostError
    }
    do {
      try backend.start()
    } catch {
      logger.critical("the engine failed to start: \(error)")
      backend.shutdown()
      return ExitStatus.hostError
    }
    let server = ControlServer(
      backend: backend,
      configuration: .init(
        limits: configuration.limits, imageDirectories: configuration.imageDirectories,
        peerPolicy: PeerPolicy(groupID: groupID ?? getegid(), adminGroupID: adminGroupID),
        blockingThreads: configuration.apiThreads,
        version: BuildVersion.daemonVersion),
      logger: logger, metrics: ControlMetrics(registry: registry))
    do {
      serverOwnsSocket = true
      try server.start(on: socket)
    } catch {
      logger.critical("cannot serve the control API: \(error)")
      server.stop()
      backend.shutdown()
      return ExitStatus.hostError
    }
    if stopWithParent { ParentWatch.start(parent: parent, logger: logger) }
    // Every thread exists: the main thread keeps only what waiting for the signal and stopping need.
    ThreadConfinement.enter(.main)
    var received: Int32 = 0
    sigwait(&signals, &received)
    logger.notice("received signal \(received): stopping")
    server.stop()
    backend.shutdown()
    logger.notice("stopped")
    return 0
  }

  /// Refuses a start that would leave out unseen the VMs of a VM process this configuration does not start: a
  /// folder `vm-process-K` (K at least `vm-processes`) whose journal records any VM. A folder without a journal,
  /// or whose journal records none (its VMs all removed, or a start with more processes that failed early), is
  /// no reason to refuse; one that cannot be read is.
  private func refuseStrandedVMs(_ configuration: DaemonConfiguration) throws {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: configuration.stateDirectory)) ?? []
    let beyond = entries.compactMap(DaemonConfiguration.vmProcessIndex(ofFolder:)).filter {
      $0 >= configuration.vmProcesses
    }
    guard !beyond.isEmpty else { return }
    let root = try TrustedDirectory.open(configuration.stateDirectory)
    for index in beyond.sorted(by: >) {
      let folder = DaemonConfiguration.vmProcessDirectory(configuration.stateDirectory, index)
      let records: [VMRecord]
      do {
        let directory = try root.subdirectory(DaemonConfiguration.vmProcessFolder(index), create: false)
        records = try VMJournal.recordedVMs(in: directory)
      } catch {
        throw EngineStartError(
          "cannot tell whether \(folder) holds VMs (\(error)): start with vm-processes = \(index + 1) or more, or remove that folder"
        )
      }
      if !records.isEmpty {
        let live = records.filter { $0.end == nil }.count
        throw EngineStartError(
          "the state directory holds VMs of VM process \(index) (\(folder): \(live) live, \(records.count - live) finished): start with vm-processes = \(index + 1) or more, or remove that folder to give them up"
        )
      }
    }
  }

  /// The engine: in this process, or (`vm-processes` above 1) the router to that many VM processes, started here
  /// (before privileges are dropped and the system-call filters forbid starting programs).
  private func makeBackend(_ configuration: DaemonConfiguration) throws -> any ControlBackend {
    try refuseStrandedVMs(configuration)
    // Checked before anything is made in the state directory, so that a refused start changes nothing there.
    let network = configuration.engine.network
    if network != nil {
      try NetworkPartitionMarker.check(root: configuration.stateDirectory, processes: configuration.vmProcesses)
    }
    guard configuration.vmProcesses > 1 else { return try makeControlBackend(configuration: configuration.engine) }
    try prepareEngineState(
      root: configuration.stateDirectory, vmProcesses: configuration.vmProcesses,
      folder: DaemonConfiguration.vmProcessFolder)
    // The daemon keeps the TAP device (made here, before the privilege drop) and joins it to every process's
    // switch through a hub.
    let tap = try network?.uplink.map { link in try TapUplink(name: link.tapName, address: link.address) }
    let words = configurationWords
    let processes = try VMProcessLauncher.launch(
      count: configuration.vmProcesses, arguments: words, trunks: network != nil)
    // A VM process that dies is started again by the spawner (the daemon itself will not be able to).
    let spawner: VMProcessSpawner.Client
    do {
      let started = try VMProcessLauncher.startSpawner(arguments: words)
      spawner = VMProcessSpawner.Client(pid: started.pid, descriptor: started.descriptor)
    } catch {
      VMProcessLauncher.abandon(processes)
      throw error
    }
    let hasTrunks = network != nil
    let hub = try network.map { network in
      let trunks = try processes.enumerated().compactMap { index, process in
        try process.trunk.map { try DescriptorUplink(descriptor: $0, name: "denali-trunk-\(index)", nonBlocking: true) }
      }
      let switchSettings = VirtualSwitch.Configuration(subnet: network.subnet, gateway: network.uplink?.address.address)
      return UplinkHub(
        routing: HubRouting(
          hostRange: switchSettings.hostRange, gateway: switchSettings.gateway, processes: processes.count,
          isolatesVMs: network.isolatesVMs, hasTap: tap != nil),
        tap: tap, trunks: trunks)
    }
    return WorkerPoolBackend(
      processes: processes.map { ($0.pid, $0.descriptor) }, limits: configuration.engine.limits,
      maximumVMs: configuration.maximumVMs, memoryBudgetPerProcess: configuration.engine(vmProcess: 0).memoryBudget,
      hub: hub, respawn: { index in try spawner.respawn(index, trunk: hasTrunks) }, afterShutdown: { spawner.close() })
  }

  /// The daemon's configuration words, as given to it: passed on to the VM processes and the spawner.
  private var configurationWords: [String] { (config.map { ["--config", $0] } ?? []) + settings }

  /// The group id for `name` of configuration key `key` (nil for an empty name: for socket-group the daemon's own
  /// group, for admin-group none).
  static func groupID(_ name: String, key: String = "socket-group") throws(ConfigurationError) -> gid_t? {
    guard !name.isEmpty else { return nil }
    if let number = gid_t(name) { return number }
    var entry = group()
    var buffer = [CChar](repeating: 0, count: 16 << 10)
    var result: UnsafeMutablePointer<group>?
    // SAFETY: getgrnam_r fills `entry` and keeps its strings in `buffer`; only gr_gid is read, during the call's
    // closure, while both are alive.
    let found: gid_t? = buffer.withUnsafeMutableBufferPointer { storage in
      guard let base = storage.baseAddress, getgrnam_r(name, &entry, base, storage.count, &result) == 0, result != nil
      else { return nil }
      return entry.gr_gid
    }
    guard let found else {
      throw .invalid(
        "\(key) '\(name)' does not exist: create it (groupadd --system \(name)) or set \(key) (\(key == "socket-group" ? "empty: the daemon's own group" : "none: root and the daemon's user only"))"
      )
    }
    return found
  }
}
