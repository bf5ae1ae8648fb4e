// SpawnFigures.swift: what `denali-bench spawn` reports: the spawn's rate and the VMs' start latencies beside the C
// baseline's boots, how far the VMs got, and the daemon's own figures.
import ControlAPI
import DenaliCore
import Foundation

extension SpawnBenchmark {
  /// Order statistics of start latencies (request to first hypercall), nanoseconds.
  struct Latencies: Encodable {
    /// VMs with a latency.
    let vms: Int
    /// Median, 90th and 99th percentiles, and the largest.
    let medianNs: UInt64, p90Ns: UInt64, p99Ns: UInt64, maxNs: UInt64

    /// The statistics of `samples`.
    init(_ samples: [UInt64]) {
      let summary = SampleSummary(samples)
      vms = samples.count
      (medianNs, p90Ns, p99Ns, maxNs) = (summary.median, summary.percentile(90), summary.p99, summary.percentile(100))
    }

    /// "median ..., p90 ..., p99 ..., max ...", for the table.
    var line: String {
      "median \(SpawnBenchmark.time(medianNs)), p90 \(SpawnBenchmark.time(p90Ns)), p99 \(SpawnBenchmark.time(p99Ns)), "
        + "max \(SpawnBenchmark.time(maxNs))"
    }
  }

  /// What `spawn` reports.
  struct Figures: Encodable {
    /// VMs asked for, the image, guest memory per VM, VMs per create request.
    let count: Int, image: String, memoryBytes: UInt64, batch: Int
    /// The daemon's workers and memory budget.
    let workers: Int, memoryBudgetBytes: UInt64
    /// `denalid spawn`: its exit status, the VMs the daemon created, seconds from its start to its exit.
    let spawnExitStatus: Int32, created: Int, spawnSeconds: Double
    /// VMs per second: the spawn's, beside the baseline's sequential boots (1 / median time to termination).
    let spawnVmsPerSecond: Comparison<Double>
    /// The baseline's boots, its median time to termination and to the first hypercall, and its whole loop's rate
    /// (teardown and process start included).
    let baselineBoots: Int, baselineTerminationMedianNs: UInt64, baselineFirstHypercallMedianNs: UInt64
    let baselineLoopVmsPerSecond: Double
    /// VMs finished when the wait ended, and seconds from the spawn's start to then.
    let finished: Int, endToEndSeconds: Double
    /// The most VMs seen at once in each state over the polls.
    let peakVmsByState: [String: Int]
    /// The burst's start latencies, and the VMs listed without one.
    let startLatency: Latencies, vmsWithoutLatency: Int
    /// Start latencies of single VMs created 10 ms apart after the burst.
    let singleStartLatency: Latencies
    /// VMs that did not exit 0, and VMs missing from the list.
    let failures: Int, missing: Int
    /// The daemon's own figures at the end (GET /v1/stats): VMs created, VM CPU time over the run, RSS, exits,
    /// hypercalls, uptime.
    let daemonVmsCreated: UInt64, daemonVmCpuNs: UInt64, daemonRssBytes: UInt64, daemonExits: UInt64
    let daemonHypercalls: UInt64, daemonUptimeSeconds: Double
    /// The daemon process's CPU time (user + system) and peak RSS, from /proc.
    let daemonProcessCpuSeconds: Double?, daemonPeakRssBytes: UInt64?
    /// Whether the daemon exited 0 after SIGTERM, and how long it took.
    let stoppedCleanly: Bool, stopSeconds: Double
    /// The counter VM started before the burst (nil without one), and its longest gap between two counts.
    let runningServiceVmId: UInt64?, runningServiceLongestGapNs: UInt64?

    /// True when the spawn succeeded, every VM exited 0 and the daemon stopped cleanly.
    var healthy: Bool { spawnExitStatus == 0 && failures == 0 && missing == 0 && finished >= created && stoppedCleanly }

    /// The figures of one run of `benchmark`.
    init(
      benchmark: SpawnBenchmark, spawn: SpawnRun, progress: Progress, vms: [VMInfo], singles: [UInt64],
      baseline: BaselineRun, statistics: (start: DaemonStatistics, end: DaemonStatistics), daemonCPU: Double?,
      peakRSS: UInt64?, stop: (result: (reason: Process.TerminationReason, status: Int32)?, seconds: Double),
      service: (id: UInt64, gapMicroseconds: UInt64?)?
    ) {
      let terminations = SampleSummary(baseline.samples.map(\.end)).median
      let stats = statistics.end
      count = benchmark.count
      image = benchmark.image
      memoryBytes = benchmark.memory.size.bytes
      batch = benchmark.batch
      workers = stats.workers
      memoryBudgetBytes = stats.memoryBudgetBytes
      spawnExitStatus = spawn.status
      created = spawn.created
      spawnSeconds = spawn.seconds
      spawnVmsPerSecond = Comparison(
        Double(spawn.created) / max(spawn.seconds, 1e-9), terminations > 0 ? 1e9 / Double(terminations) : 0)
      baselineBoots = baseline.samples.count
      baselineTerminationMedianNs = terminations
      baselineFirstHypercallMedianNs = SampleSummary(baseline.samples.map(\.first)).median
      baselineLoopVmsPerSecond = Double(baseline.samples.count) / max(baseline.wallSeconds, 1e-9)
      finished = progress.finished
      endToEndSeconds = progress.seconds
      peakVmsByState = Dictionary(uniqueKeysWithValues: progress.peaks.map { ($0.key.rawValue, $0.value) })
      let latencies = vms.compactMap(\.startLatencyNanoseconds)
      startLatency = Latencies(latencies)
      vmsWithoutLatency = vms.count - latencies.count
      singleStartLatency = Latencies(singles)
      failures = vms.filter { $0.state != .exited(status: 0) }.count
      missing = max(0, benchmark.count - vms.count)
      daemonVmsCreated = stats.vmsCreatedTotal
      daemonVmCpuNs = stats.cpuTimeNanosecondsTotal &- statistics.start.cpuTimeNanosecondsTotal
      daemonRssBytes = stats.memoryResidentBytes
      daemonExits = stats.exitsTotal
      daemonHypercalls = stats.hypercallsTotal
      daemonUptimeSeconds = stats.uptimeSeconds
      daemonProcessCpuSeconds = daemonCPU
      daemonPeakRssBytes = peakRSS
      stoppedCleanly = stop.result.map { $0.reason == .exit && $0.status == 0 } ?? false
      stopSeconds = stop.seconds
      runningServiceVmId = service?.id
      runningServiceLongestGapNs = service?.gapMicroseconds.map { $0 * 1000 }
    }
  }
}
