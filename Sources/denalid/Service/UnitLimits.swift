// UnitLimits.swift: `denalid serve --unit-limits`: the systemd unit's MemoryMax= and TasksMax= for a configuration.
import Glibc

/// What the daemon's cgroup may need at most under a configuration (Config/denalid.service explains the terms).
struct UnitLimits: Equatable {
  /// Host memory of a resident VM beside its guest memory: KVM's kernel objects (154 KiB measured, BENCHMARKS.md)
  /// and the daemon's own (119 KiB), with room to spare.
  static let residentOverheadBytes: UInt64 = 512 << 10
  /// A VM's record beside its console buffer (1.8 KiB measured swapped out, BENCHMARKS.md), with room to spare.
  static let recordBytes: UInt64 = 4 << 10
  /// The runtime, the API's buffers and the page cache of swap writes in flight.
  static let baseBytes: UInt64 = 512 << 20
  /// Threads beside the workers, swap and API pool threads: main, preemptor, watchdog, switch, uplink, port
  /// release, API event loop, libdispatch's threads at stop, and margin.
  static let fixedThreads = 16

  /// MemoryMax= in bytes.
  var memoryBytes: UInt64
  /// TasksMax=.
  var tasks: Int

  /// The limits for `configuration` on a host with `cores` cores (workers = 0 means one per core). Resident VMs
  /// are at most max-vms, and at most memory-budget over the smallest VM (2 MiB); each resident VM also holds
  /// one kernel task (KVM's nx-lpage-recovery thread), which counts against TasksMax. With a network, the frames
  /// waiting in VMs' receive queues add up to `receive-memory`.
  init(_ configuration: DaemonConfiguration, cores: Int) {
    // With vm-processes above 1, each process adds its own runtime and threads (see below).
    let resident = min(UInt64(configuration.maximumVMs), configuration.memoryBudget / (2 << 20))
    memoryBytes =
      configuration.memoryBudget + resident * Self.residentOverheadBytes
      + UInt64(configuration.maximumVMs) * (configuration.consoleBytes + Self.recordBytes) + Self.baseBytes
      + (configuration.network == nil ? 0 : configuration.receiveMemory)
    let workers = configuration.workers == 0 ? max(1, cores) : configuration.workers
    let processes = configuration.vmProcesses
    if processes > 1 {
      // Each VM process is an engine of its own (its runtime, heaps and threads: workers, its share of the swap
      // threads, the threads running the daemon's calls); the daemon keeps its API threads and a reader each.
      // And the spawner, which starts a VM process that died again (its runtime only).
      memoryBytes += UInt64(processes) * Self.processBytes + Self.spawnerBytes
      let perProcess = workers + max(1, configuration.swapThreads / processes) + configuration.apiThreads + 2
      // With a network: each process's switch and trunk reader, the daemon's reader of each trunk and the TAP's.
      let network = configuration.network == nil ? 0 : processes * 3 + 1
      tasks =
        Int(resident) + processes * (perProcess + Self.fixedThreads) + configuration.apiThreads + processes
        + Self.fixedThreads + network + Self.fixedThreads
    } else {
      tasks = Int(resident) + workers + configuration.swapThreads + configuration.apiThreads + Self.fixedThreads
    }
  }

  /// A VM process's own memory beside its VMs: about 6 MB idle measured, and heaps kept for reuse.
  static let processBytes: UInt64 = 128 << 20

  /// The spawner's memory (`VMProcessSpawner`): a small process with the runtime and nothing else.
  static let spawnerBytes: UInt64 = 16 << 20

  /// The lines for a drop-in (`systemctl edit denalid`), MemoryMax= rounded up to whole MiB.
  var rendered: String {
    """
    # systemd limits for this configuration: put them in a drop-in (systemctl edit denalid), under [Service].
    [Service]
    MemoryMax=\((memoryBytes + (1 << 20) - 1) >> 20)M
    TasksMax=\(tasks)

    """
  }
}
