// WebReport.swift: the table of `denali-bench web` as CSV, and its plot (gnuplot, PNG): throughput and p99 latency
// against the number of VMs on log axes, beside the points Denali's paper reported.
import Foundation

/// The web benchmark's CSV and plot.
enum WebReport {
  /// The CSV's columns, in order.
  static let columns = [
    "vms", "requests", "seconds", "requests_per_second", "median_ms", "p90_ms", "p99_ms", "max_ms", "errors",
    "distinct_vms", "swap_ins_per_second", "swap_outs_per_second", "swap_ins_per_request", "model_cold_probability",
    "disk_read_bytes", "disk_written_bytes", "daemon_cpu_percent", "daemon_cpu_us_per_request", "daemon_rss_bytes",
    "generator_cpu_percent", "setup_seconds", "receive_drops",
  ]

  /// Writes `rows` to `path` as CSV (a header, then one line per N).
  static func writeCSV(_ rows: [WebBenchmark.Row], to path: String) throws {
    func ms(_ ns: UInt64) -> String { decimal(Double(ns) / 1e6, places: 3) }
    let lines = rows.map { row in
      [
        "\(row.vms)", "\(row.requests)", decimal(row.seconds, places: 3), decimal(row.requestsPerSecond, places: 3),
        ms(row.medianNs), ms(row.p90Ns), ms(row.p99Ns), ms(row.maxNs), "\(row.errors)", "\(row.distinctVms)",
        decimal(row.swapInsPerSecond, places: 3), decimal(row.swapOutsPerSecond, places: 3),
        decimal(row.swapInsPerRequest, places: 4), decimal(row.modelColdProbability, places: 4), "\(row.diskReadBytes)",
        "\(row.diskWrittenBytes)", decimal(row.daemonCPUPercent, places: 1),
        decimal(row.daemonCPUMicrosecondsPerRequest, places: 0), "\(row.daemonRSSBytes)",
        decimal(row.generatorCPUPercent, places: 1), decimal(row.setupSeconds, places: 1), "\(row.receiveDrops)",
      ].joined(separator: ",")
    }
    try ([columns.joined(separator: ",")] + lines).joined(separator: "\n").appending("\n")
      .write(toFile: path, atomically: true, encoding: .utf8)
  }

  /// Denali's reported throughput (Whitaker, Shaw, Gribble, OSDI 2002, the web-server scaling figure): about
  /// 5,000 requests/s while the VMs' working set fit in memory, about 15 at 10,000 VMs. Only these points are
  /// drawn: the paper's machine, not ours.
  static let denaliPoints: [(vms: Int, requestsPerSecond: Double)] = [(1, 5000), (1000, 5000), (10_000, 15)]

  /// Draws `csv` (and `overlay`, another run's CSV with its label) into `png` with gnuplot: requests/s (left axis)
  /// and p99 latency (right axis) against VMs, log scales, with Denali's points.
  static func plot(
    csv: String, png: String, clients: Int, exponent: Double, keepAlive: Bool, budgetVms: Int, memoryMib: Int,
    overlay: (csv: String, label: String)? = nil
  ) throws {
    guard BenchmarkNamespace.isInstalled("gnuplot") else {
      throw BenchmarkError("gnuplot not found (Debian gnuplot-nox; scripts/setup.sh installs it)")
    }
    let denali = FileManager.default.temporaryDirectory.appendingPathComponent("denali-web-paper-\(getpid()).dat").path
    defer { try? FileManager.default.removeItem(atPath: denali) }
    try denaliPoints.map { "\($0.vms),\($0.requestsPerSecond)" }.joined(separator: "\n").appending("\n")
      .write(toFile: denali, atomically: true, encoding: .utf8)
    var series = [
      "'\(csv)' skip 1 using 1:4 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'denalid: requests/s (\(memoryMib) MiB VMs)'",
      "'\(csv)' skip 1 using 1:7 axes x1y2 with linespoints lw 1 dt 2 pt 6 lc rgb '#1f77b4' title 'denalid: p99 latency, ms (right axis)'",
    ]
    if let overlay {
      series += [
        "'\(overlay.csv)' skip 1 using 1:4 with linespoints lw 2 pt 5 lc rgb '#d62728' title 'denalid: requests/s (\(overlay.label))'",
        "'\(overlay.csv)' skip 1 using 1:7 axes x1y2 with linespoints lw 1 dt 2 pt 4 lc rgb '#d62728' title 'denalid: p99 latency, ms (\(overlay.label), right axis)'",
      ]
    }
    series.append(
      "'\(denali)' using 1:2 with linespoints lw 2 dt 3 pt 9 lc rgb '#7f7f7f' title 'Denali (OSDI 2002 paper, another machine): requests/s'"
    )
    let script = """
      set terminal png size 1100,720 font ',10'
      set output '\(png)'
      set datafile separator ','
      set key below box maxrows 3
      set logscale x
      set logscale y
      set logscale y2
      set ytics nomirror
      set y2tics
      set xlabel 'web-server VMs (N), log scale; memory budget for \(budgetVms) VMs'
      set ylabel 'requests/s (log)'
      set y2label 'p99 latency, ms (log)'
      set grid
      set title "Denali's web experiment on denalid: Zipf(\(decimal(exponent, places: 2))) load, \(clients) closed-loop clients, \(keepAlive ? "kept-alive connections" : "a new connection per request")\\nguests emulated here (about 0.8 µs per guest instruction): compare shapes, not heights"
      plot \(series.joined(separator: ", \\\n  "))
      """
    let scriptPath = png + ".gnuplot"
    try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: scriptPath) }
    let status = try BenchmarkNamespace.command(["gnuplot", scriptPath])
    guard status == 0 else { throw BenchmarkError("gnuplot exited with \(status)") }
  }
}
