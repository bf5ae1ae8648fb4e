// WebBenchmark.swift: `denali-bench web`: the Denali web experiment: N httpd VMs sharing one read-only site image
// behind `denalid serve`, a closed-loop Zipf load from the host side of the uplink, and throughput and latency
// against N (a memory budget for a fraction of them), or the cost of a request to a swapped-out VM.
import ArgumentParser
import ControlAPI
import DenaliCore
import Foundation

/// `denali-bench web`.
struct WebBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "web",
    abstract: "Web-server VMs under a Zipf load: throughput and latency against the number of VMs.",
    discussion: """
      Needs root: it creates network namespace denali-bench-web-PID, runs itself inside it and deletes it after.
      There it packs a site (documents of 1, 2, 4, 16 and 64 KiB) into one site image and starts `denalid serve`
      as a child (network 10.96.0.0/14, uplink tap dweb0, a memory budget for --budget-vms VMs). For each N of
      --counts it grows the population to N httpd VMs through the API (--memory each, every one with the site
      image as its shared read-only disk: "disk": {"image": ...}), waits until every VM has booted and idles,
      then runs C closed-loop clients (--clients) for --warmup seconds and measures --window seconds (or exactly
      --requests requests). Each request goes to a VM drawn from a Zipf distribution over the N VMs (--exponent)
      for a document drawn the same way, on a new connection (or kept alive with --keep-alive); every response
      must be a 200 with the document's exact bytes, and a request unanswered after --timeout is an error.
      Per N: requests/s, latency median/p90/p99/max, errors, swap-ins and swap-outs per second, the daemon's
      storage bytes read and written, its CPU and RSS, the generator's own CPU, and the model's chance that a
      request finds its VM swapped out. --csv and --plot write the table and a PNG (gnuplot).
      With --cold-start it instead times requests to VMs that are swapped out against requests to a resident VM.
      """
  )

  @Option(help: "The numbers of VMs, ascending, comma-separated.")
  var counts: String = "1,10,100,500,1000,2000,5000,10000"

  @Flag(help: "Add 100,000 VMs to --counts.")
  var hundredThousand = false

  @Option(help: "VMs of --memory the memory budget holds.")
  var budgetVms: Int = 1000

  @Option(help: "Guest memory per VM in MiB (a multiple of 2).")
  var memoryMib: Int = 2

  @Option(help: "KiB of memory each httpd writes at start (httpd ballast=K: a memory-heavy server); 0 for none.")
  var ballastKib: Int = 0

  @Flag(
    help:
      "Give httpd its 1 s TIME-WAIT timer (by default it gets lazy-time-wait: no timer, a TIME-WAIT connection ends when its slot is needed, so an idle server is never woken by a timer)."
  )
  var timedTimeWait = false

  @Option(help: "Concurrent clients (each one request outstanding).")
  var clients: Int = 16

  @Option(help: "Frames each VM's receive queue holds (the daemon's receive-queue; default: the daemon's default).")
  var receiveQueue: Int?

  @Option(help: "The Zipf exponent over VMs and over documents.")
  var exponent: Double = 1.0

  @Flag(help: "Keep connections open between requests to the same VM (default: a new connection per request).")
  var keepAlive = false

  @Option(help: "Seconds of load before each measurement.")
  var warmup: Int = 10

  @Option(help: "Seconds each measurement lasts.")
  var window: Int = 30

  @Option(help: "Measure exactly this many requests per N instead (no warm-up, no window).")
  var requests: Int?

  @Option(help: "Seconds after which an unanswered request is an error.")
  var timeout: Int = 30

  @Option(help: "The seed of the clients' random draws.")
  var seed: UInt64 = 1

  @Option(help: "Write the table as CSV to this file.")
  var csv: String?

  @Option(help: "Draw throughput and p99 against N into this PNG (needs gnuplot; with --csv).")
  var plot: String?

  @Option(help: "Another run's CSV to draw beside this one (for example the memory-heavy curve).")
  var overlayCsv: String?

  @Option(help: "The overlay's label in the plot.")
  var overlayLabel: String = "other run"

  @Flag(help: "Only draw --plot from an existing --csv (and --overlay-csv), without running anything.")
  var plotOnly = false

  @Flag(help: "Measure requests to swapped-out VMs against requests to a resident one instead of the curve.")
  var coldStart = false

  @Option(help: "With --cold-start: VMs (more than --budget-vms), and samples of each kind.")
  var coldVms: Int = 200

  @Option(help: "With --cold-start: samples of each kind.")
  var samples: Int = 100

  @Option(help: "Folder of the guest images (httpd).")
  var guests: String = "Guests/build"

  @OptionGroup var output: ReportOptions

  /// The VM counts to measure.
  var populations: [Int] {
    let listed = counts.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    return hundredThousand && !listed.contains(100_000) ? listed + [100_000] : listed
  }

  func validate() throws {
    let list = populations
    guard !list.isEmpty, list.allSatisfy({ $0 >= 1 && $0 <= 200_000 }), list == list.sorted(),
      Set(list).count == list.count
    else { throw ValidationError("--counts: ascending distinct numbers from 1 to 200000") }
    guard budgetVms >= 1, memoryMib >= 2, memoryMib % 2 == 0, memoryMib <= 64, clients >= 1, clients <= 256,
      exponent >= 0, exponent <= 4, warmup >= 0, window >= 1, timeout >= 1, samples >= 5, ballastKib >= 0
    else {
      throw ValidationError(
        "--budget-vms >= 1, --memory-mib an even 2-64, --clients 1-256, --exponent 0-4, --window >= 1, --timeout >= 1, --samples >= 5"
      )
    }
    if let requests, requests < 1 { throw ValidationError("--requests >= 1") }
    if coldStart && coldVms <= budgetVms { throw ValidationError("--cold-vms must exceed --budget-vms") }
    if plot != nil && csv == nil { throw ValidationError("--plot needs --csv") }
    if plotOnly && plot == nil { throw ValidationError("--plot-only needs --csv and --plot") }
  }

  /// One N's figures.
  struct Row: Codable, Sendable {
    /// VMs registered.
    let vms: Int
    /// Requests completed in the window, and its length in seconds.
    let requests: Int, seconds: Double
    /// Completed requests per second.
    let requestsPerSecond: Double
    /// Latency percentiles and maximum, nanoseconds.
    let medianNs: UInt64, p90Ns: UInt64, p99Ns: UInt64, maxNs: UInt64
    /// Failed requests (timeouts included), during warm-up and window; the first one's message.
    let errors: Int, firstError: String?
    /// Kept connections found closed and reopened (keep-alive only; not errors).
    let reconnects: Int
    /// Distinct VMs the window's requests reached.
    let distinctVms: Int
    /// Whole-VM swap-ins and swap-outs per second in the window.
    let swapInsPerSecond: Double, swapOutsPerSecond: Double
    /// Swap-ins per completed request (measured) against the model's chance that a request's VM is swapped out
    /// (the budget as an LRU cache of VMs under the Zipf load, Che's approximation).
    let swapInsPerRequest: Double, modelColdProbability: Double
    /// The daemon's storage bytes read and written in the window (block layer).
    let diskReadBytes: UInt64, diskWrittenBytes: UInt64
    /// The daemon's CPU in the window, percent of one core, and per request in microseconds.
    let daemonCPUPercent: Double, daemonCPUMicrosecondsPerRequest: Double
    /// The daemon's resident set at the end of the window, bytes.
    let daemonRSSBytes: UInt64
    /// This process's CPU in the window (the load generator), percent of one core.
    let generatorCPUPercent: Double
    /// Seconds it took to grow the population to N and see every VM idle.
    let setupSeconds: Double
    /// Frames for the VMs the requests reached that the daemon dropped because a VM's receive queue was full,
    /// during warm-up and window (each one a TCP retransmission for its sender).
    let receiveDrops: UInt64
  }

  /// What `web` reports.
  struct Figures: Encodable {
    /// The run's settings.
    let clients: Int, exponent: Double, keepAlive: Bool, memoryBytes: UInt64, budgetVms: Int, ballastKib: Int,
      lazyTimeWait: Bool
    /// The site's document sizes (bytes) and its image's size.
    let documentBytes: [Int], siteImageBytes: Int
    /// One row per N (the curve), empty with --cold-start.
    let rows: [Row]
    /// Peak throughput over the rows, and each row's over it.
    let peakRequestsPerSecond: Double?
    /// With --cold-start: requests to swapped-out VMs and to a resident one.
    let coldStart: ColdStart?
  }

  /// Requests to swapped-out VMs against requests to a resident VM.
  struct ColdStart: Encodable {
    /// VMs, and how many were in swap-out before each cold sample (checked through the API).
    let vms: Int, coldSamples: Int, skipped: Int, swapIns: UInt64
    /// Median and p99 of each kind, nanoseconds, and cold over warm.
    let coldMedianNs: UInt64, coldP99Ns: UInt64, warmMedianNs: UInt64, warmP99Ns: UInt64
    let medianRatio: Double, p99Ratio: Double
  }

  /// The TAP device the daemon makes, and the VMs' network.
  static let tap = "dweb0", subnet = "10.96.0.0/14"

  func run() throws {
    if plotOnly, let csv, let plot {
      return try WebReport.plot(
        csv: csv, png: plot, clients: clients, exponent: exponent, keepAlive: keepAlive, budgetVms: budgetVms,
        memoryMib: memoryMib,
        overlay: overlayCsv.map { ($0, overlayLabel) })
    }
    guard BenchmarkNamespace.current != nil else {
      return try BenchmarkNamespace.rerunInside(prefix: "denali-bench-web", benchmark: "web")
    }
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("denali-web-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: work) }
    try FileManager.default.createDirectory(atPath: work + "/images", withIntermediateDirectories: true)
    let site = WebSite()
    let imageBytes = try site.pack(into: work + "/site", image: work + "/images/site.img")
    let daemon = try BenchmarkDaemon(prefix: "denali-bench-web")
    defer {
      daemon.killIfRunning()
      daemon.removeDirectory()
    }
    let largest = coldStart ? coldVms : populations.last ?? 1
    try daemon.start(
      flags: [
        "--image-dir", URL(fileURLWithPath: guests).standardizedFileURL.path, "--image-dir", work + "/images",
        "--network", Self.subnet, "--uplink", "tap \(Self.tap)", "--memory-budget", "\(budgetVms * memoryMib)MiB",
        "--max-vms", "\(largest + 10)", "--log-level", "notice",
      ] + (receiveQueue.map { ["--receive-queue", "\($0)"] } ?? []))
    try daemon.waitUntilReady(limit: .seconds(120))
    var population = WebPopulation(daemon: daemon, tap: Self.tap, memoryMib: memoryMib, arguments: guestArguments)
    var rows: [Row] = []
    var cold: ColdStart?
    if coldStart {
      _ = try population.grow(to: coldVms)
      cold = try measureColdStart(population: population)
    } else {
      var dropsSeen: [Int: UInt64] = [:]
      for count in populations {
        let setup = try population.grow(to: count)
        let row = try measure(
          population: population, count: count, site: site, setupSeconds: setup, dropsSeen: &dropsSeen)
        rows.append(row)
        if !output.json { printRow(row) }
        if let csv { try WebReport.writeCSV(rows, to: csv) }
      }
    }
    _ = daemon.terminate(limit: .seconds(600))
    let peak = rows.map(\.requestsPerSecond).max()
    if let plot, let csv, !rows.isEmpty {
      try WebReport.plot(
        csv: csv, png: plot, clients: clients, exponent: exponent, keepAlive: keepAlive, budgetVms: budgetVms,
        memoryMib: memoryMib,
        overlay: overlayCsv.map { ($0, overlayLabel) })
    }
    let figures = Figures(
      clients: clients, exponent: exponent, keepAlive: keepAlive, memoryBytes: UInt64(memoryMib) << 20,
      budgetVms: budgetVms, ballastKib: ballastKib, lazyTimeWait: !timedTimeWait,
      documentBytes: site.documents.map(\.body.count),
      siteImageBytes: imageBytes, rows: rows, peakRequestsPerSecond: peak, coldStart: cold)
    try report(figures) {
      if let cold {
        printColdStart(cold)
      } else if let peak {
        print(
          "peak \(decimal(peak, places: 1)) requests/s; at the largest N \(decimal((rows.last?.requestsPerSecond ?? 0) / max(peak, 1e-9) * 100, places: 1))% of it"
        )
      }
    }
  }

  /// httpd's arguments: room for the clients' connections, quiet, and the ballast.
  private var guestArguments: [String] {
    ["max-connections=\(min(max(clients, 16), 64))", "buffer=8192", "quiet"] + (timedTimeWait ? [] : ["lazy-time-wait"])
      + (ballastKib > 0 ? ["ballast=\(ballastKib)"] : [])
  }

  /// Runs the load against the first `count` VMs and measures one row.
  private func measure(
    population: WebPopulation, count: Int, site: WebSite, setupSeconds: Double, dropsSeen: inout [Int: UInt64]
  ) throws -> Row {
    let generator = try WebLoadGenerator(
      settings: .init(
        addresses: Array(population.addresses.prefix(count)), site: site, clients: clients, exponent: exponent,
        keepAlive: keepAlive, timeout: .seconds(timeout), seed: seed &+ UInt64(count)))
    let daemon = population.daemon
    let coldProbability = generator.coldProbability(resident: budgetVms)
    let window = WebWindow()
    let outcome: WebLoadGenerator.Outcome
    let before: WebDaemonReading
    let after: WebDaemonReading
    if let requests {
      before = try WebDaemonReading(daemon)
      window.open()
      outcome = generator.run { begun in begun >= requests }
      window.close()
      after = try WebDaemonReading(daemon)
    } else {
      let stop = WebStopSignal()
      let measured = ThreadResult { generator.run { _ in stop.isSet } }
      Thread.sleep(forTimeInterval: Double(warmup))
      before = try WebDaemonReading(daemon)
      window.open()
      Thread.sleep(forTimeInterval: Double(self.window))
      window.close()
      after = try WebDaemonReading(daemon)
      stop.set()
      outcome = measured.wait()
    }
    let inWindow = requests == nil ? outcome.samples.filter { window.contains($0.finishedAt) } : outcome.samples
    let seconds = window.seconds
    let latencies = SampleSummary(inWindow.map(\.nanoseconds))
    let completed = inWindow.count
    let swapIns = Double(after.swapIns - before.swapIns)
    let swapOuts = Double(after.swapOuts - before.swapOuts)
    let receiveDrops = try receiveQueueDrops(
      of: Set(outcome.samples.map(\.vm)), population: population, seen: &dropsSeen)
    return Row(
      vms: count, requests: completed, seconds: seconds, requestsPerSecond: Double(completed) / seconds,
      medianNs: latencies.median, p90Ns: latencies.percentile(90), p99Ns: latencies.p99,
      maxNs: latencies.percentile(100),
      errors: outcome.failures.count, firstError: outcome.failures.first.map { "\($0.kind): \($0.message)" },
      reconnects: outcome.reconnects, distinctVms: Set(inWindow.map(\.vm)).count,
      swapInsPerSecond: swapIns / seconds, swapOutsPerSecond: swapOuts / seconds,
      swapInsPerRequest: swapIns / Double(max(completed, 1)), modelColdProbability: coldProbability,
      diskReadBytes: after.diskRead &- before.diskRead, diskWrittenBytes: after.diskWritten &- before.diskWritten,
      daemonCPUPercent: (after.daemonCPU - before.daemonCPU) / seconds * 100,
      daemonCPUMicrosecondsPerRequest: (after.daemonCPU - before.daemonCPU) / Double(max(completed, 1)) * 1e6,
      daemonRSSBytes: after.daemonRSS, generatorCPUPercent: (after.ownCPU - before.ownCPU) / seconds * 100,
      setupSeconds: setupSeconds, receiveDrops: receiveDrops)
  }

  /// Receive-queue-full drops of `vms` (indexes in the population) since `seen` was last updated for each; updates
  /// it. One inspect request per VM: the VMs a run reached, not all N.
  private func receiveQueueDrops(of vms: Set<Int>, population: WebPopulation, seen: inout [Int: UInt64]) throws
    -> UInt64
  {
    var total: UInt64 = 0
    for vm in vms.sorted() {
      let dropped =
        try population.daemon.client.inspectVM("\(population.ids[vm])").network?.drops["receive-queue-full"] ?? 0
      total += dropped &- min(dropped, seen[vm] ?? 0)
      seen[vm] = dropped
    }
    return total
  }

  /// Times requests to swapped-out VMs (each checked through the API just before) against requests to VM 0,
  /// which the alternation keeps resident, one request at a time.
  private func measureColdStart(population: WebPopulation) throws -> ColdStart {
    let site = WebSite(kib: [1])
    let client = population.daemon.client
    func one(_ vm: Int) throws -> UInt64 {
      let generator = try WebLoadGenerator(
        settings: .init(
          addresses: [population.addresses[vm]], site: site, clients: 1, exponent: 0, keepAlive: false,
          timeout: .seconds(timeout), seed: seed))
      let outcome = generator.run { begun in begun >= 1 }
      guard let sample = outcome.samples.first else {
        throw BenchmarkError(
          "request to vm \(population.ids[vm]) failed: \(outcome.failures.first.map { "\($0.kind): \($0.message)" } ?? "?")"
        )
      }
      return sample.nanoseconds
    }
    // One round over every VM first, so that each VM's next turn comes after the budget filled with others.
    for vm in 0..<population.addresses.count { _ = try one(vm) }
    let swapInsBefore = try client.statistics().swapInsTotal
    var coldSamples: [UInt64] = []
    var warmSamples: [UInt64] = []
    var skipped = 0
    var turn = 0
    while coldSamples.count < samples && turn < samples * 4 {
      let vm = 1 + turn % (population.addresses.count - 1)
      turn += 1
      _ = try one(0)
      warmSamples.append(try one(0))
      guard (try? client.inspectVM(String(population.ids[vm])).state) == .swappedOut else {
        skipped += 1
        _ = try one(vm)
        continue
      }
      coldSamples.append(try one(vm))
    }
    guard coldSamples.count == samples else {
      throw BenchmarkError("only \(coldSamples.count) of \(turn) targets were swapped out: is the budget too large?")
    }
    let swapIns = try client.statistics().swapInsTotal - swapInsBefore
    let coldSummary = SampleSummary(coldSamples)
    let warmSummary = SampleSummary(warmSamples)
    return ColdStart(
      vms: population.addresses.count, coldSamples: coldSamples.count, skipped: skipped, swapIns: swapIns,
      coldMedianNs: coldSummary.median, coldP99Ns: coldSummary.p99, warmMedianNs: warmSummary.median,
      warmP99Ns: warmSummary.p99, medianRatio: Double(coldSummary.median) / Double(max(warmSummary.median, 1)),
      p99Ratio: Double(coldSummary.p99) / Double(max(warmSummary.p99, 1)))
  }

  /// One row for people.
  private func printRow(_ row: Row) {
    func ms(_ ns: UInt64) -> String { decimal(Double(ns) / 1e6, places: 1) }
    print(
      "N=\(row.vms): \(decimal(row.requestsPerSecond, places: 1)) req/s (\(row.requests) in \(decimal(row.seconds, places: 1)) s), "
        + "latency median \(ms(row.medianNs)) ms p90 \(ms(row.p90Ns)) p99 \(ms(row.p99Ns)) max \(ms(row.maxNs)) ms, "
        + "errors \(row.errors)\(row.firstError.map { " (\($0))" } ?? ""), receive-queue drops \(row.receiveDrops), "
        + "VMs reached \(row.distinctVms), "
        + "swap-ins \(decimal(row.swapInsPerSecond, places: 1))/s outs \(decimal(row.swapOutsPerSecond, places: 1))/s, "
        + "swap-ins per request \(decimal(row.swapInsPerRequest, places: 3)) (model \(decimal(row.modelColdProbability, places: 3))), "
        + "disk read \(row.diskReadBytes >> 10) KiB written \(row.diskWrittenBytes >> 10) KiB, daemon CPU "
        + "\(decimal(row.daemonCPUPercent, places: 0))% (\(decimal(row.daemonCPUMicrosecondsPerRequest, places: 0)) µs/request) "
        + "RSS \(row.daemonRSSBytes >> 20) MiB, generator CPU \(decimal(row.generatorCPUPercent, places: 0))%, setup \(decimal(row.setupSeconds, places: 1)) s"
    )
  }

  /// The cold-start figures for people.
  private func printColdStart(_ cold: ColdStart) {
    func ms(_ ns: UInt64) -> String { decimal(Double(ns) / 1e6, places: 2) + " ms" }
    print(
      "denali-bench web --cold-start: \(cold.vms) httpd VMs, a budget for \(budgetVms), one request at a time (1 KiB, new connection)"
    )
    print(
      "  to a swapped-out VM: median \(ms(cold.coldMedianNs)), p99 \(ms(cold.coldP99Ns)) (\(cold.coldSamples) samples, \(cold.skipped) skipped: not swapped out; \(cold.swapIns) swap-ins)"
    )
    print("  to a resident VM:    median \(ms(cold.warmMedianNs)), p99 \(ms(cold.warmP99Ns))")
    print("  cold / warm: median \(decimal(cold.medianRatio))x, p99 \(decimal(cold.p99Ratio))x")
  }
}
