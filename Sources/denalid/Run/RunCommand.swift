// RunCommand.swift: `denalid run`: one guest in one VM, console to stdout, the guest's status as ours.
import ArgumentParser
import DenaliCommandLine
import DenaliCore
import Foundation
import KVM
import ThreadConfinement

/// `denalid run IMAGE... [--count N] [--memory SIZE] [--timeout DURATION] [-- GUEST ARGS...]`.
struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Run guest images, each in its own VM, and exit with their status.",
    discussion: """
      Every image runs --count times (IMAGE:N runs that image N times); all VMs share one pool of worker
      threads. With one VM its console passes through untouched; with several, each console line is
      prefixed [vm ID] and a summary goes to standard error. Everything after -- goes to every guest.
      Network: --network 10.0.0.0/16 gives each VM a NIC on one virtual switch, with the subnet's host
      addresses in order of creation (MAC 02:00 + the address); --tap NAME [--tap-address 10.0.0.1/16]
      joins the switch to the host through a TAP device whose host side has that address (default the
      subnet's first), the VMs' gateway; --net-stats prints every VM's packets, bytes and drops.
      Exit status: the guest's own (0-255), or with several VMs the highest of theirs; 2 invalid image or
      usage; 124 timeout; 125 host error; 128+vector CPU exception (128 #DE, 134 #UD, 141 #GP, 142 #PF);
      160 triple fault; 161 halt; 162 emulation failure; 163 access outside guest memory; 164 port I/O
      that is not a hypercall; 165 bad hypercall struct; 166 any other exit; 167 an instruction KVM
      retries forever. See Docs/ABI.md.
      """
  )

  @Argument(help: "Guest images: static x86-64 ELF executables, optionally IMAGE:COUNT.")
  var images: [String]

  @Option(help: "Instances of each image.")
  var count: Int = 1

  @OptionGroup
  var memory: GuestMemoryOptions

  @Option(help: "Stop each guest after this long (e.g. 10s, 500ms); exit status 124.")
  var timeout: DurationArgument?

  @OptionGroup
  var scheduling: SchedulerOptions

  @Flag(help: "Drop the guests' console output.")
  var quiet = false

  @Option(help: "Virtual disk file (created with --disk-size when missing); one VM only.")
  var disk: String?

  @Option(help: "Disk size, a multiple of 4KiB: creates --disk if missing, or a scratch disk per VM without --disk.")
  var diskSize: ByteSizeArgument?

  @Flag(help: "Attach --disk read-only (then every VM may share it).")
  var diskReadonly = false

  // Not among the shared swap options: `denali-bench overcommit` sizes its budget from --resident and `spawn` from
  // its VM count.
  @Option(
    help:
      "Guest memory that may be in RAM at once (default: half of physical memory); VMs beyond it are swapped out whole."
  )
  var memoryBudget: ByteSizeArgument?

  @OptionGroup
  var swap: SwapOptions

  @OptionGroup(title: "Network")
  var network: NetworkOptions

  /// Arguments passed to every guest: everything after the first `--` on the command line.
  var guestArguments: [String] { Denalid.guestArguments }

  func validate() throws {
    if diskReadonly && disk == nil { throw ValidationError("--disk-readonly needs --disk FILE") }
    guard count >= 1, count <= 1_000_000 else { throw ValidationError("--count must be between 1 and 1000000") }
    if let memoryBudget, memoryBudget.size.bytes < memory.bytes {
      throw ValidationError(
        "--memory-budget (\(memoryBudget.size)) must hold at least one VM's --memory (\(memory.memory.size))")
    }
  }

  func run() throws {
    let plan = images.map { Self.imageAndCount($0) }
    let total = plan.reduce(0) { $0 + $1.1 * count }
    if disk != nil && !diskReadonly && total > 1 {
      printError("denalid: a writable --disk can back one VM only; use --disk-readonly to share it")
      throw ExitCode(ExitStatus.usage)
    }
    let base = VMConfiguration(memorySize: memory.bytes, arguments: guestArguments, timeout: timeout?.duration)
    do {
      try base.validate()
    } catch {
      printError("denalid: \(error)")
      throw ExitCode(ExitStatus.usage)
    }
    var parsed: [(path: String, image: GuestImage, count: Int)] = []
    for (path, perImage) in plan {
      do {
        parsed.append((path, try GuestImage(contentsOf: path, memorySize: base.memorySize), perImage * count))
      } catch {
        printError("denalid: \(path): not a valid guest image: \(error)")
        throw ExitCode(ExitStatus.usage)
      }
    }
    throw ExitCode(execute(parsed, base: base, total: total))
  }

  /// Creates every VM, runs them all on the scheduler, and returns the exit status.
  private func execute(_ parsed: [(path: String, image: GuestImage, count: Int)], base: VMConfiguration, total: Int)
    -> Int32
  {
    raiseDescriptorLimit()
    // Every thread started from here on (scheduler, switch, uplink) installs its own seccomp filter first.
    if let failure = SeccompSetup.enable(logger: nil) {
      printError("denalid: cannot turn the system-call filters on: \(failure)")
      return ExitStatus.hostError
    }
    let system: KVMSystem
    do {
      system = try KVMSystem()
    } catch {
      printError("denalid: host error: \(error)")
      return ExitStatus.hostError
    }
    let fabric: VirtualSwitch?
    do {
      fabric = try network.makeSwitch()
    } catch {
      printError("denalid: network: \(error)")
      return ExitStatus.hostError
    }
    defer { fabric?.stop() }
    var ports: [UInt64: NetworkPort] = [:]
    let consoles = ConsoleMultiplexer(vmCount: total, quiet: quiet)
    let state: StateDirectory
    let store: SwapStore
    do {
      state = try StateDirectory(path: swap.stateDir)
      store = SwapStore(directory: state.directory)
    } catch {
      printError("denalid: state directory: \(error)")
      return ExitStatus.hostError
    }
    defer { state.removeIfTemporary() }
    let swapping = Scheduler.Swapping(
      memoryBudget: memoryBudget?.size.bytes ?? Scheduler.Swapping.defaultMemoryBudget, store: store, system: system,
      threads: swap.swapThreads, log: { printError("denalid: \($0)") })
    let scheduler = Scheduler(configuration: scheduling.configuration(swapping: swapping))
    scheduler.start()
    let start = ContinuousClock.now
    var created = 0
    var creationError: Int32?
    creation: for (path, image, instances) in parsed {
      for _ in 0..<instances {
        var configuration = base
        configuration.id = UInt64(created + 1)
        do {
          configuration.disk = try openDisk()
          configuration.network = try fabric?.addPort(id: configuration.id)
          ports[configuration.id] = configuration.network
          let vm = try GuestVM(
            system: system, image: image, configuration: configuration, resident: false,
            console: consoles.sink(for: configuration.id))
          scheduler.submit(vm, name: path)
          created += 1
        } catch let error as VMSetupError {
          printError("denalid: created \(created) of \(total) VMs, then: \(error)")
          creationError = error.isUsageError ? ExitStatus.usage : ExitStatus.hostError
          break creation
        } catch let error as NetworkError {
          printError("denalid: created \(created) of \(total) VMs, then: network: \(error)")
          creationError = ExitStatus.usage
          break creation
        } catch {
          printError("denalid: created \(created) of \(total) VMs, then: disk: \(error)")
          creationError = ExitStatus.usage
          break creation
        }
      }
    }
    // Every VM and thread exists: the main thread keeps only what waiting and reporting need.
    ThreadConfinement.enter(.main)
    let creationSeconds = Double(nanoseconds(ContinuousClock.now - start)) / 1e9
    let reports = scheduler.waitForAll()
    scheduler.stop()
    let wallSeconds = Double(nanoseconds(ContinuousClock.now - start)) / 1e9
    for report in reports { consoles.finish(report.id) }
    var status: Int32 = 0
    var faultLines = 0
    for report in reports.sorted(by: { $0.id < $1.id }) {
      status = max(status, Self.status(of: report.outcome))
      guard let message = Self.message(for: report.outcome, timeout: base.timeout) else { continue }
      if total == 1 {
        printError("denalid: \(message)")
      } else if case .faulted = report.outcome {
        // With many VMs the summary counts timeouts; faults are named, the first few of them.
        faultLines += 1
        if faultLines <= Self.faultLinesShown { printError("denalid: vm \(report.id): \(message)") }
      }
    }
    if faultLines > Self.faultLinesShown {
      printError("denalid: ... and \(faultLines - Self.faultLinesShown) more faulted VMs")
    }
    if let fabric, total > 1 || network.netStats {
      // Frames the guests sent just before they ended may still be in the switch's hands: count them first.
      _ = fabric.settle(within: .seconds(5))
      let accounting = Dictionary(reports.map { ($0.id, $0.accounting) }, uniquingKeysWith: { first, _ in first })
      for line in network.report(ports: ports, fabric: fabric, accounting: accounting) { printError(line) }
    }
    if total > 1 {
      let summary = RunSummary(
        reports: reports, creationSeconds: creationSeconds, wallSeconds: wallSeconds, swap: scheduler.swapStatistics)
      for line in summary.lines {
        printError(line)
      }
    }
    return creationError.map { max($0, status) } ?? status
  }

  /// Faulted VMs named one by one on stderr before the rest are only counted.
  static let faultLinesShown = 20

  /// The disk each VM gets: the shared or single file, a scratch disk, or none.
  private func openDisk() throws(DiskFileError) -> DiskFile? {
    if let disk { return try DiskFile(path: disk, readOnly: diskReadonly, createSize: diskSize?.size.bytes) }
    if let diskSize { return try DiskFile.scratch(size: diskSize.size.bytes) }
    return nil
  }

  /// Splits IMAGE:COUNT (when IMAGE:COUNT is not itself a file).
  static func imageAndCount(_ argument: String) -> (String, Int) {
    guard let colon = argument.lastIndex(of: ":"), let count = Int(argument[argument.index(after: colon)...]),
      count >= 1, !FileManager.default.fileExists(atPath: argument)
    else { return (argument, 1) }
    return (String(argument[..<colon]), count)
  }

  /// The exit status an outcome maps to.
  static func status(of outcome: VMOutcome) -> Int32 {
    switch outcome {
    case .exited(let status): status
    case .faulted(let fault): fault.exitStatus
    case .timedOut: ExitStatus.timeout
    case .hostFailed: ExitStatus.hostError
    }
  }

  /// The stderr line for an outcome that is not the guest's own exit.
  static func message(for outcome: VMOutcome, timeout: Duration?) -> String? {
    switch outcome {
    case .exited: nil
    case .faulted(let fault): "guest fault: \(fault)"
    case .timedOut: "guest stopped: it ran past its timeout of \(timeout.map { "\($0)" } ?? "?")"
    case .hostFailed(let reason): "host error: \(reason)"
    }
  }

  /// A short label for the summary.
  static func outcomeLabel(_ outcome: VMOutcome) -> String {
    switch outcome {
    case .exited(let status): "exited \(status)"
    case .faulted(let fault): "faulted \(fault.exitStatus)"
    case .timedOut: "timed out"
    case .hostFailed: "host failed"
    }
  }
}
