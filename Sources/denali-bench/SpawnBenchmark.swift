// SpawnBenchmark.swift: `denali-bench spawn`: VMs per second and start latency of `denalid spawn --count N`
// through a `denalid serve` child, beside the C baseline's sequential boots of the same image in the same run.
import ArgumentParser
import ControlAPI
import DenaliCommandLine
import DenaliCore
import Foundation

/// `denali-bench spawn`: starts a private daemon, times the real `denalid spawn` client creating --count VMs,
/// waits for every VM to exit, and reads each VM's start latency from the API.
struct SpawnBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "spawn",
    abstract: "Spawn rate and start latency through the control API, beside the C baseline's sequential boots.",
    discussion: """
      Starts `denalid serve` as a child (socket, state and log in a private directory under /tmp, removed at the
      end unless --keep), with room for every VM (max-vms, keep-finished, and a memory budget for all of them
      unless --memory-budget gives one). Then runs `denalid spawn IMAGE --count N` as a child and times it
      wall-clock from start to exit: the spawn rate is N over that time. It waits until every VM has finished (or
      --max-seconds pass), reads every VM's start_latency_ns (from the create request reaching the engine to the
      guest's first hypercall) and counts every VM that did not exit with status 0 as a failure. The baseline,
      kvm-baseline booting the same image sequentially (half of its boots before the daemon starts, half after it
      stops), gives the rate of one thread booting VMs back to back on raw KVM (1 / median time to termination;
      its whole loop's rate, teardown included, is shown too) and its median time to the first hypercall.
      """
  )

  @Option(help: "VMs to spawn.")
  var count: Int = 5000

  @Option(help: "Guest image (every VM runs it; it should exit 0 on its own).")
  var image: String = "Guests/build/hello.elf"

  // Not the shared --memory (4 MiB): thousands of VMs take the smallest size, 2 MiB.
  @Option(help: "Guest memory per VM (a multiple of 2MiB).")
  var memory: ByteSizeArgument = ByteSizeArgument(ByteSize(bytes: 2 << 20))

  // Not run's --memory-budget (half of physical memory): by default room for every VM spawned.
  @Option(help: "The daemon's memory budget (default: room for every VM, count x memory x 1.25).")
  var memoryBudget: ByteSizeArgument?

  // Not the shared --workers: unset, it is left to `serve` (which reads its own configuration).
  @Option(help: "Worker threads of the daemon (default: serve's default, one per core).")
  var workers: Int?

  @Option(help: "VMs per create request (passed to spawn).")
  var batch: Int = 250

  @Option(help: "Sequential boots of the C baseline.")
  var baselineIterations: Int = 200

  @Option(help: "Seconds from the start of the spawn until every VM must have finished.")
  var maxSeconds: Int = 600

  @Option(help: "The C baseline program (default: kvm-baseline beside this executable).")
  var baseline: String?

  @Option(help: "After the burst, VMs created one per request, 10 ms apart (the unloaded start latency).")
  var singles: Int = 200

  @Flag(help: "Keep the temporary directory (daemon log, state, spawn output) for inspection.")
  var keep = false

  @Flag(
    inversion: .prefixedNo,
    help:
      "Start a counter VM (counter.elf beside the image) before the burst and report its longest gap between counts.")
  var runningService = true

  @OptionGroup
  var output: ReportOptions

  /// How long the daemon may take to answer after it starts.
  static let readyLimit: Duration = .seconds(60)
  /// How long the daemon may take to exit after SIGTERM.
  static let stopLimit: Duration = .seconds(120)
  /// VMs listed when reporting failures.
  static let failuresShown = 20

  func validate() throws {
    guard count >= 1, count <= 999_900 else { throw ValidationError("--count must be between 1 and 999900") }
    guard batch >= 1, batch <= 10_000 else { throw ValidationError("--batch must be between 1 and 10000") }
    guard baselineIterations >= 2 else { throw ValidationError("--baseline-iterations must be at least 2") }
    guard maxSeconds >= 1 else { throw ValidationError("--max-seconds must be at least 1") }
    if let workers, workers < 0 || workers > 1024 {
      throw ValidationError("--workers must be from 0 (one per core) to 1024")
    }
    let step: UInt64 = 2 << 20
    guard memory.size.bytes >= step, memory.size.bytes % step == 0 else {
      throw ValidationError("--memory must be a multiple of 2MiB")
    }
  }

  func run() throws {
    let imagePath = imageArgument(image)
    guard imagePath.hasPrefix("/"), FileManager.default.fileExists(atPath: imagePath) else {
      throw ValidationError("no guest image at \(image) (build the guests with `make guests`)")
    }
    let memorySize = memory.size.bytes
    let baselinePath = baseline ?? BaselineProgram.defaultPath
    let half = baselineIterations / 2
    var baseline = try BaselineRun(
      path: baselinePath, image: imagePath, iterations: baselineIterations - half, memorySize: memorySize)

    let daemon = try BenchmarkDaemon(prefix: "denali-bench-spawn")
    defer {
      daemon.killIfRunning()
      if keep {
        print("kept \(daemon.directory) (serve.log, spawn.out, state/)")
      } else {
        daemon.removeDirectory()
      }
    }
    try daemon.start(
      flags: serveFlags(imageDirectory: URL(fileURLWithPath: imagePath).deletingLastPathComponent().path))
    try daemon.waitUntilReady(limit: Self.readyLimit)
    let counterImage = URL(fileURLWithPath: imagePath).deletingLastPathComponent().path + "/counter.elf"
    let service =
      runningService && FileManager.default.fileExists(atPath: counterImage)
      ? try RunningServiceProbe.start(
        image: counterImage, memory: ByteCount.format(memory.size.bytes), client: daemon.client, limit: Self.readyLimit)
      : nil
    let startStatistics = try Self.call { () throws(ControlClientError) in try daemon.client.statistics() }

    let spawn = try runSpawn(imagePath: imagePath, daemon: daemon, createdBefore: startStatistics.vmsCreatedTotal)
    let progress = waitForAll(created: spawn.created, daemon: daemon, spawnStart: spawn.startedAt)
    let serviceGap = service?.longestGapMicroseconds(client: daemon.client)
    service?.stop(client: daemon.client)
    let burstVMs = try Self.call { () throws(ControlClientError) in try daemon.client.listVMs() }
      .filter { $0.id != service?.id }
    let singleLatencies = try spawnSingles(imagePath: imagePath, daemon: daemon, after: burstVMs.map(\.id).max() ?? 0)
    let vms = burstVMs
    let endStatistics = try Self.call { () throws(ControlClientError) in try daemon.client.statistics() }
    let daemonCPU = daemon.cpuSeconds()
    let peakRSS = daemon.peakResidentBytes()

    let stopStart = ContinuousClock.now
    let stopped = daemon.terminate(limit: Self.stopLimit)
    let stopSeconds = (ContinuousClock.now - stopStart).inSeconds
    baseline.add(try BaselineRun(path: baselinePath, image: imagePath, iterations: half, memorySize: memorySize))

    let figures = Figures(
      benchmark: self, spawn: spawn, progress: progress, vms: vms, singles: singleLatencies, baseline: baseline,
      statistics: (startStatistics, endStatistics), daemonCPU: daemonCPU, peakRSS: peakRSS,
      stop: (stopped, stopSeconds), service: service.map { ($0.id, serviceGap) })
    try report(figures) {
      printTable(figures, spawnOutput: spawn.output, vms: vms)
      if let service {
        let gap = figures.runningServiceLongestGapNs.map(Self.time) ?? "n/a"
        print(
          "running service: a counter VM (period \(RunningServiceProbe.intervalMilliseconds) ms, vm \(service.id)) started "
            + "before the burst went at most \(gap) without counting (longest gap between two counts on its own clock, "
            + "waits for admission and swap-ins included; target \(Self.time(RunningServiceProbe.targetMicroseconds * 1000)))"
        )
      } else if runningService {
        print("running service: not measured (no counter.elf beside the image)")
      }
      print(Self.stopLine(stopped, seconds: stopSeconds))
    }
    if !figures.healthy {
      let log = "denalid serve log (last 40 lines of \(daemon.logPath)):\n\(daemon.logTail(lines: 40))"
      if output.json { printError(log) } else { print(log) }
      throw ExitCode.failure
    }
  }

  /// The `serve` flags: images from the image's directory, room for every VM (unless --memory-budget says
  /// otherwise), and every finished VM kept for `list` (the default keeps 1000; each VM's latency is read there).
  private func serveFlags(imageDirectory: String) -> [String] {
    let step: UInt64 = 2 << 20
    let wanted = UInt64(count) * memory.size.bytes / 4 * 5
    let budget = memoryBudget?.size.bytes ?? (wanted + step - 1) / step * step
    var flags = [
      "--image-dir", imageDirectory, "--max-vms", "\(count + singles + 100)", "--keep-finished",
      "\(count + singles + 1)",
      "--memory-budget", ByteCount.format(budget),
    ]
    if let workers { flags += ["--workers", "\(workers)"] }
    return flags
  }

  /// What one run of `denalid spawn` did.
  struct SpawnRun {
    /// Wall-clock seconds from starting the process to its exit.
    var seconds: Double
    /// Its exit status.
    var status: Int32
    /// Its standard output and error.
    var output: String
    /// When it started.
    var startedAt: ContinuousClock.Instant
    /// VMs the daemon reports created once it exited.
    var created: Int
  }

  /// Runs `denalid spawn IMAGE --count N ...` against the daemon and times it.
  private func runSpawn(imagePath: String, daemon: BenchmarkDaemon, createdBefore: UInt64) throws -> SpawnRun {
    let outputPath = daemon.directory + "/spawn.out"
    guard FileManager.default.createFile(atPath: outputPath, contents: nil),
      let output = FileHandle(forWritingAtPath: outputPath)
    else { throw ValidationError("cannot create \(outputPath)") }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: BenchmarkDaemon.executable)
    process.arguments = [
      "spawn", imagePath, "--count", "\(count)", "--memory", ByteCount.format(memory.size.bytes), "--batch", "\(batch)",
      "--socket", daemon.socket,
    ]
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = output
    process.standardError = output
    let startedAt = ContinuousClock.now
    try process.run()
    try waitForExit(process, limit: .seconds(1800), what: "denalid spawn --count \(count)")
    let seconds = (ContinuousClock.now - startedAt).inSeconds
    try? output.close()
    let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    let created = try Self.call { () throws(ControlClientError) in try daemon.client.statistics() }.vmsCreatedTotal
    return SpawnRun(
      seconds: seconds, status: process.terminationStatus, output: text, startedAt: startedAt,
      created: Int(created &- createdBefore))
  }

  /// The C baseline's boots: its samples, and the wall time of its whole loops.
  struct BaselineRun {
    /// Nanoseconds to the first hypercall and to termination, per boot.
    var samples: [(first: UInt64, end: UInt64)]
    /// Wall-clock seconds of the baseline processes, start to exit (teardown and process start included).
    var wallSeconds: Double

    /// Runs `iterations` sequential boots of `image` with `kvm-baseline boot` and times the process.
    init(path: String, image: String, iterations: Int, memorySize: UInt64) throws {
      let start = ContinuousClock.now
      samples = try BootBenchmark.runBaseline(path, image: image, iterations: iterations, memorySize: memorySize)
      wallSeconds = (ContinuousClock.now - start).inSeconds
    }

    /// Adds another run's boots.
    mutating func add(_ other: BaselineRun) {
      samples += other.samples
      wallSeconds += other.wallSeconds
    }
  }

  /// How far the VMs got while the benchmark waited for them.
  struct Progress {
    /// VMs finished at the last poll.
    var finished = 0
    /// Seconds from the spawn's start to the last poll.
    var seconds = 0.0
    /// The most VMs seen at once in each state over the polls.
    var peaks: [VMStateKind: Int] = [:]
  }

  /// Polls `GET /v1/stats` every 0.1 s (cheap for the daemon, unlike listing every VM; the API's times have whole
  /// seconds only) until `created` VMs have finished or --max-seconds from the spawn's start pass.
  private func waitForAll(created: Int, daemon: BenchmarkDaemon, spawnStart: ContinuousClock.Instant) -> Progress {
    var progress = Progress()
    while true {
      if let stats = try? daemon.client.statistics() {
        progress.finished = VMStateKind.allCases.filter(\.isFinished).reduce(0) { $0 + (stats.vmsByState[$1] ?? 0) }
        for (kind, number) in stats.vmsByState { progress.peaks[kind] = max(progress.peaks[kind] ?? 0, number) }
      }
      progress.seconds = (ContinuousClock.now - spawnStart).inSeconds
      if progress.finished >= created || progress.seconds >= Double(maxSeconds) { return progress }
      Thread.sleep(forTimeInterval: 0.1)
    }
  }

  /// Prints the figures for people, with `denalid spawn`'s output and the VMs that did not exit 0.
  private func printTable(_ f: Figures, spawnOutput: String, vms: [VMInfo]) {
    print(
      "denali-bench spawn: \(count) VMs of \(image) (\(ByteCount.format(f.memoryBytes))) in batches of \(batch), "
        + "daemon with \(f.workers) workers and a memory budget of \(ByteCount.human(f.memoryBudgetBytes)); "
        + "C baseline: \(f.baselineBoots) sequential boots of the same image")
    for line in spawnOutput.split(separator: "\n") { print("  denalid spawn: \(line)") }
    if f.spawnExitStatus != 0 { print("  denalid spawn FAILED with exit status \(f.spawnExitStatus)") }
    let (spawnRate, baselineRate) = (f.spawnVmsPerSecond.denalid, f.spawnVmsPerSecond.baseline)
    print(
      "spawn: \(f.created) VMs in \(decimal(f.spawnSeconds, places: 2)) s through the API (`denalid spawn` wall clock, "
        + "process start to exit): \(decimal(spawnRate, places: 0)) VMs/s; C baseline boots \(decimal(baselineRate, places: 0)) "
        + "VMs/s sequentially (1 / median time to termination, \(Self.time(f.baselineTerminationMedianNs))): "
        + "\(Self.ratio(spawnRate, baselineRate))")
    print(
      "  (the baseline's whole loop, teardown and process start included: \(decimal(f.baselineLoopVmsPerSecond, places: 0)) VMs/s; "
        + "the spawn's rate against it: \(Self.ratio(spawnRate, f.baselineLoopVmsPerSecond)))")

    if f.finished >= f.created {
      let rate = Double(f.created) / max(f.endToEndSeconds, 1e-9)
      print(
        "end to end: all \(f.created) VMs had finished \(decimal(f.endToEndSeconds, places: 1)) s after the spawn started "
          + "(stats polled every 0.1 s): \(decimal(rate, places: 0)) VMs/s; against the baseline's sequential rate "
          + "\(Self.ratio(rate, baselineRate)), against its whole loop \(Self.ratio(rate, f.baselineLoopVmsPerSecond))")
    } else {
      let states = Dictionary(grouping: vms, by: { $0.state.kind.rawValue }).mapValues(\.count)
      print(
        "end to end: NOT all finished: \(f.finished) of \(f.created) created VMs had finished after "
          + "\(decimal(f.endToEndSeconds, places: 1)) s (--max-seconds \(maxSeconds)); states now: "
          + states.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    }

    let peaks = VMStateKind.allCases.filter { !$0.isFinished && (f.peakVmsByState[$0.rawValue] ?? 0) > 0 }
    print(
      "  most VMs at once in each state (over the polls): "
        + (peaks.isEmpty
          ? "none seen live"
          : peaks.map { "\($0.rawValue) \(f.peakVmsByState[$0.rawValue] ?? 0)" }.joined(separator: ", ")))

    let latency = f.startLatency
    print(
      "start latency (request -> first hypercall), \(latency.vms) VMs"
        + (f.vmsWithoutLatency > 0 ? " (\(f.vmsWithoutLatency) without one)" : "") + ": \(latency.line); "
        + "C baseline boot median (create to first hypercall) \(Self.time(f.baselineFirstHypercallMedianNs)) "
        + "(\(Self.ratio(Double(latency.medianNs), Double(f.baselineFirstHypercallMedianNs))))")

    let failures = vms.filter { $0.state != .exited(status: 0) }
    print(
      "failures: \(f.failures) VMs did not exit 0" + (f.missing > 0 ? "; \(f.missing) VMs missing from the list" : ""))
    for vm in failures.prefix(Self.failuresShown) { print("  vm \(vm.id): \(Self.describe(vm.state))") }
    if failures.count > Self.failuresShown { print("  ... and \(failures.count - Self.failuresShown) more") }

    let perVM = f.daemonVmsCreated > 0 ? f.daemonVmCpuNs / f.daemonVmsCreated : 0
    print(
      "daemon (GET /v1/stats at the end): \(f.daemonVmsCreated) VMs created, "
        + "VM CPU time \(decimal(Double(f.daemonVmCpuNs) / 1e9, places: 2)) s (\(Self.time(perVM)) per VM), "
        + "RSS \(ByteCount.human(f.daemonRssBytes)), \(f.daemonExits) exits, "
        + "\(f.daemonHypercalls) hypercalls, uptime \(decimal(f.daemonUptimeSeconds, places: 1)) s")
    print(
      "daemon process (/proc): CPU user+system \(f.daemonProcessCpuSeconds.map { decimal($0, places: 2) + " s" } ?? "n/a") in all, "
        + "peak RSS \(f.daemonPeakRssBytes.map(ByteCount.human) ?? "n/a")")
    let singles = f.singleStartLatency
    print(
      "start latency of one VM at a time (\(singles.vms) requests of 1 VM, 10 ms apart, the burst over): "
        + "\(singles.line); C baseline boot median (create to first hypercall) "
        + "\(Self.time(f.baselineFirstHypercallMedianNs)) (\(Self.ratio(Double(singles.medianNs), Double(f.baselineFirstHypercallMedianNs))))"
    )
  }

  /// Creates `singles` VMs one per request, 10 ms apart, waits until they have finished, and returns their start
  /// latencies: request to first hypercall with nothing else queued.
  private func spawnSingles(imagePath: String, daemon: BenchmarkDaemon, after lastID: UInt64) throws -> [UInt64] {
    guard singles > 0 else { return [] }
    let body = CreateVMsBody(image: imagePath, count: 1, memory: ByteCount.format(memory.size.bytes))
    for _ in 0..<singles {
      _ = try Self.call { () throws(ControlClientError) in try daemon.client.createVMs(body) }
      Thread.sleep(forTimeInterval: 0.01)
    }
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
      let vms = try Self.call { () throws(ControlClientError) in try daemon.client.listVMs() }.filter { $0.id > lastID }
      if vms.count == singles, vms.allSatisfy(\.state.isFinished) { return vms.compactMap(\.startLatencyNanoseconds) }
      Thread.sleep(forTimeInterval: 0.1)
    }
    throw ValidationError("the \(singles) single VMs did not all finish within 60 s")
  }

  /// How the daemon ended after SIGTERM, for people.
  private static func stopLine(_ stopped: (reason: Process.TerminationReason, status: Int32)?, seconds: Double)
    -> String
  {
    guard let stopped else { return "daemon: did NOT exit within \(stopLimit) of SIGTERM (killed with SIGKILL)" }
    if stopped.reason == .exit && stopped.status == 0 {
      return "daemon: exited 0 \(decimal(seconds, places: 2)) s after SIGTERM"
    }
    let how = stopped.reason == .exit ? "exit status \(stopped.status)" : "signal \(stopped.status)"
    return "daemon: ended with \(how) after SIGTERM (\(decimal(seconds, places: 2)) s)"
  }

  /// Runs a client call, turning its typed error into a message.
  private static func call<T>(_ body: () throws(ControlClientError) -> T) throws -> T {
    do {
      return try body()
    } catch {
      throw ValidationError("control API call failed: \(error)")
    }
  }

  /// A VM state with its detail.
  private static func describe(_ state: VMState) -> String {
    switch state {
    case .exited(let status): "exited \(status)"
    case .faulted(let description): "faulted: \(description)"
    default: state.kind.rawValue
    }
  }

  /// Nanoseconds as milliseconds with two decimals, or from 1 s on as seconds with two decimals.
  static func time(_ nanoseconds: UInt64) -> String {
    nanoseconds >= 1_000_000_000
      ? decimal(Double(nanoseconds) / 1e9, places: 2) + " s" : decimal(Double(nanoseconds) / 1e6, places: 2) + " ms"
  }

  /// `numerator / denominator` with two decimals and an `x`.
  private static func ratio(_ numerator: Double, _ denominator: Double) -> String {
    denominator > 0 ? decimal(numerator / denominator, places: 2) + "x" : "n/a"
  }
}
