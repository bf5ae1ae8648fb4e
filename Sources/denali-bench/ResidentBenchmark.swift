// ResidentBenchmark.swift: `denali-bench resident`: thousands of idle VMs created and killed through the daemon,
// with the VMs in one process and spread over several (`vm-processes`), in the same run.
import ArgumentParser
import ControlAPI
import DenaliCommandLine
import DenaliCore
import Foundation

/// `denali-bench resident`: how creating and tearing down thousands of resident idle VMs through the control API
/// scales with the VMs spread over VM processes, against all in one process.
struct ResidentBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "resident",
    abstract: "Thousands of idle VMs through the daemon: creation and teardown per VM, one process against several.",
    discussion: """
      For each --processes value (the first is the baseline) starts a daemon with that many VM processes, creates
      --count idler VMs through the API in requests of --batch (timing each request: the cost per VM of each
      tenth), waits until none is waiting for admission (all booted), then kills them all, from --killers threads,
      and times each tenth of the kills to take effect (VMs in state killed). Every VM must boot and end killed.
      """
  )

  @Option(help: "VMs to create.")
  var count: Int = 10000

  @Option(help: "VMs per create request.")
  var batch: Int = 500

  @Option(help: "vm-processes of each daemon, comma separated; the first is the baseline.")
  var processes: String = "1,5"

  @Option(help: "Threads sending kill requests.")
  var killers: Int = 4

  @Option(help: "Seconds allowed for each phase (creating, booting, killing).")
  var phaseSeconds: Int = 600

  @Option(help: "The idler guest.")
  var image: String = "Guests/build/idler.elf"

  @OptionGroup
  var output: ReportOptions

  /// Guest memory per VM.
  static let memory: UInt64 = 2 << 20

  /// What one daemon did.
  struct Run: Encodable {
    /// Its vm-processes.
    var processes: Int
    /// Milliseconds per VM of each tenth of the creates (request time over the VMs it created).
    var createMsPerTenth: [Double]
    /// Seconds until every create request returned.
    var createSeconds: Double
    /// Seconds from the first create until every VM had started (its first slice ran).
    var bootedSeconds: Double
    /// PSS of the daemon and its VM processes together, once every VM had booted, per VM (KiB; the processes'
    /// own memory included, which is what more processes cost).
    var pssKiBPerVM: Double
    /// Milliseconds per VM of each tenth of the kills taking effect.
    var teardownMsPerTenth: [Double]
    /// Seconds from the first kill until every VM was killed.
    var teardownSeconds: Double
    /// The last tenth's creation cost over the first's.
    var createGrowth: Double
    /// The last tenth's teardown cost over the first's.
    var teardownGrowth: Double

    /// The last of `tenths` over the first.
    static func growth(_ tenths: [Double]) -> Double { (tenths.last ?? 0) / max(tenths.first ?? 1, 1e-9) }

    private enum CodingKeys: String, CodingKey {
      case processes
      case createMsPerTenth = "create_ms_per_tenth"
      case createSeconds = "create_seconds"
      case bootedSeconds = "booted_seconds"
      case pssKiBPerVM = "pss_kib_per_vm"
      case teardownMsPerTenth = "teardown_ms_per_tenth"
      case teardownSeconds = "teardown_seconds"
      case createGrowth = "create_growth"
      case teardownGrowth = "teardown_growth"
    }
  }

  /// Every run, the baseline first.
  struct Figures: Encodable {
    /// VMs per run.
    var count: Int
    /// The runs.
    var runs: [Run]
  }

  /// The --processes values.
  var processCounts: [Int] { processes.split(separator: ",").compactMap { Int($0) } }

  func validate() throws {
    guard count >= 10, count <= 100_000 else { throw ValidationError("--count must be from 10 to 100000") }
    guard batch >= 1, batch <= 10_000 else { throw ValidationError("--batch must be from 1 to 10000") }
    let counts = processCounts
    guard !counts.isEmpty, counts.count == processes.split(separator: ",").count,
      counts.allSatisfy({ $0 >= 1 && $0 <= 64 })
    else { throw ValidationError("--processes must be numbers from 1 to 64, comma separated") }
    guard killers >= 1, killers <= 64 else { throw ValidationError("--killers must be from 1 to 64") }
    guard phaseSeconds >= 1 else { throw ValidationError("--phase-seconds must be at least 1") }
  }

  func run() throws {
    let imagePath = imageArgument(image)
    guard imagePath.hasPrefix("/"), FileManager.default.fileExists(atPath: imagePath) else {
      throw ValidationError("no guest image at \(image) (build the guests with `make guests`)")
    }
    // The daemons raise their own descriptor limits (each VM holds a few descriptors in its process).
    var runs: [Run] = []
    for processCount in processCounts { runs.append(try measure(processes: processCount, imagePath: imagePath)) }
    let figures = Figures(count: count, runs: runs)
    try report(figures) {
      print("\(count) idler VMs (2 MiB each) through the control API, requests of \(batch)")
      for run in runs {
        print(
          "vm-processes \(run.processes): created in \(Self.format(run.createSeconds)) s, all booted at \(Self.format(run.bootedSeconds)) s, torn down in \(Self.format(run.teardownSeconds)) s; PSS of the daemon and its processes \(Self.format(run.pssKiBPerVM)) KiB per VM"
        )
        print("  create ms/VM by tenth:   " + run.createMsPerTenth.map(Self.format).joined(separator: " "))
        print("  teardown ms/VM by tenth: " + run.teardownMsPerTenth.map(Self.format).joined(separator: " "))
        print(
          "  last tenth over first: create \(Self.format(run.createGrowth))x, teardown \(Self.format(run.teardownGrowth))x"
        )
      }
      if let base = runs.first {
        for run in runs.dropFirst() {
          print(
            "vm-processes \(run.processes) against \(base.processes): creation \(Self.format(run.createSeconds / base.createSeconds))x the time, boot of all \(Self.format(run.bootedSeconds / base.bootedSeconds))x, teardown \(Self.format(run.teardownSeconds / base.teardownSeconds))x"
          )
        }
      }
    }
  }

  /// One daemon with `processes` VM processes: create, boot, kill.
  private func measure(processes: Int, imagePath: String) throws -> Run {
    let daemon = try BenchmarkDaemon(prefix: "denali-bench-resident")
    defer {
      daemon.killIfRunning()
      daemon.removeDirectory()
    }
    let budget = (UInt64(count) * Self.memory / 4 * 5 + (2 << 20) * UInt64(processes)) / (2 << 20) * (2 << 20)
    try daemon.start(flags: [
      "--image-dir", URL(fileURLWithPath: imagePath).deletingLastPathComponent().path, "--max-vms", "\(count + 10)",
      "--max-vms-per-request", "\(batch)", "--keep-finished", "\(count + 10)", "--memory-budget",
      "\(budget >> 20)MiB", "--vm-processes", "\(processes)",
    ])
    try daemon.waitUntilReady(limit: .seconds(60))
    let client = daemon.client
    let start = ContinuousClock.now
    var perVM: [(vms: Int, seconds: Double)] = []
    var created = 0
    while created < count {
      let asked = min(batch, count - created)
      let before = ContinuousClock.now
      let response = try Self.call { () throws(ControlClientError) in
        try client.createVMs(
          CreateVMsBody(image: imagePath, count: asked, memory: "2MiB", arguments: ["1000"]))
      }
      guard response.vms.count == asked else {
        throw ValidationError("a create of \(asked) made \(response.vms.count) VMs")
      }
      perVM.append((asked, (ContinuousClock.now - before).inSeconds))
      created += asked
      guard (ContinuousClock.now - start).inSeconds < Double(phaseSeconds) else {
        throw ValidationError("creating took longer than \(phaseSeconds) s")
      }
    }
    let createSeconds = (ContinuousClock.now - start).inSeconds
    // Booted: none waits for admission or is being booted (the statistics), then every VM has
    // started (its first slice ran), as the list says.
    var ids: [UInt64] = []
    let bootDeadline = ContinuousClock.now + .seconds(phaseSeconds)
    while true {
      let stats = try Self.call { () throws(ControlClientError) in try client.statistics() }
      let pending = (stats.vmsByState[.waitingForAdmission] ?? 0) + (stats.vmsByState[.swappingIn] ?? 0)
      let finished = VMStateKind.allCases.filter(\.isFinished).reduce(0) { $0 + (stats.vmsByState[$1] ?? 0) }
      guard finished == 0 else {
        throw ValidationError("\(finished) VMs ended before the kills (see the daemon's log)")
      }
      if pending == 0, stats.vmsTotal == count {
        let vms = try Self.call { () throws(ControlClientError) in try client.listVMs() }
        if vms.count == count, vms.allSatisfy({ $0.startedAt != nil }) {
          ids = vms.map(\.id)
          break
        }
      }
      guard ContinuousClock.now < bootDeadline else {
        throw ValidationError("\(pending) VMs had not booted after \(phaseSeconds) s")
      }
      // Every poll costs each VM process a pass over its VMs: poll every 250 ms while more than a tenth are
      // still pending, every 50 ms for the rest (the figure's resolution).
      Thread.sleep(forTimeInterval: pending > count / 10 ? 0.25 : 0.05)
    }
    let bootedSeconds = (ContinuousClock.now - start).inSeconds
    let pss = Self.proportionalSetKiB(of: daemon.processIdentifier ?? 0)

    // Kill from several threads; a sampler notes when the killed count crosses each tenth.
    let killStart = ContinuousClock.now
    let failures = LockedCounter()
    let chunks = stride(from: 0, to: ids.count, by: (ids.count + killers - 1) / killers).map {
      Array(ids[$0..<min($0 + (ids.count + killers - 1) / killers, ids.count)])
    }
    let group = DispatchGroup()
    for chunk in chunks {
      group.enter()
      Thread.detachNewThread {
        for id in chunk where (try? client.killVM(String(id))) == nil { failures.add() }
        group.leave()
      }
    }
    var crossings: [Double] = []
    let tenth = count / 10
    while crossings.count < 10 {
      let stats = try Self.call { () throws(ControlClientError) in try client.statistics() }
      let killed = stats.vmsByState[.killed] ?? 0
      while crossings.count < 10, killed >= tenth * (crossings.count + 1) {
        crossings.append((ContinuousClock.now - killStart).inSeconds)
      }
      guard (ContinuousClock.now - killStart).inSeconds < Double(phaseSeconds) else {
        throw ValidationError("killing took longer than \(phaseSeconds) s (\(killed) of \(count) killed)")
      }
      if crossings.count < 10 { Thread.sleep(forTimeInterval: 0.05) }
    }
    group.wait()
    guard failures.value == 0 else { throw ValidationError("\(failures.value) kill requests failed") }
    let teardownSeconds = crossings.last ?? 0
    _ = daemon.terminate(limit: .seconds(120))

    let createTenths = Self.tenths(perVM, count: count)
    let teardownTenths = crossings.enumerated().map { index, time in
      (time - (index == 0 ? 0 : crossings[index - 1])) * 1000 / Double(tenth)
    }
    return Run(
      processes: processes, createMsPerTenth: createTenths, createSeconds: createSeconds,
      bootedSeconds: bootedSeconds, pssKiBPerVM: Double(pss) / Double(count), teardownMsPerTenth: teardownTenths,
      teardownSeconds: teardownSeconds, createGrowth: Run.growth(createTenths),
      teardownGrowth: Run.growth(teardownTenths))
  }

  /// Milliseconds per VM of each tenth of `count` VMs created by requests (`vms` each, taking `seconds`).
  static func tenths(_ requests: [(vms: Int, seconds: Double)], count: Int) -> [Double] {
    var perTenth = [Double](repeating: 0, count: 10)
    var index = 0
    for request in requests {
      let share = request.seconds / Double(request.vms)
      for _ in 0..<request.vms {
        perTenth[min(9, index * 10 / count)] += share
        index += 1
      }
    }
    return perTenth.map { $0 * 1000 / Double(count / 10) }
  }

  /// The proportional set size (KiB) of process `pid` and its children (its VM processes), from
  /// /proc/PID/smaps_rollup.
  static func proportionalSetKiB(of pid: Int32) -> Int64 {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    let children = entries.compactMap { entry -> Int32? in
      guard let child = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
      else { return nil }
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      return fields.count > 1 && Int32(fields[1]) == pid ? child : nil
    }
    return ([pid] + children).reduce(0) { $0 + (ProcFile.fields(of: "/proc/\($1)/smaps_rollup")["Pss"] ?? 0) }
  }

  /// `body`, with a client error as a validation error.
  static func call<T>(_ body: () throws(ControlClientError) -> T) throws -> T {
    do { return try body() } catch { throw ValidationError("control API: \(error)") }
  }

  /// Two decimals.
  static func format(_ value: Double) -> String { String(format: "%.2f", value) }
}

/// A count several threads add to.
final class LockedCounter: @unchecked Sendable {
  private let lock = NSLock()
  // SAFETY: read and written only with `lock` held.
  private var count = 0

  /// Adds one.
  func add() { lock.withLock { count += 1 } }

  /// The count.
  var value: Int { lock.withLock { count } }
}
