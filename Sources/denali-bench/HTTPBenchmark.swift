// HTTPBenchmark.swift: `denali-bench http`: requests per second of one httpd VM under wrk beside the tap-echo C
// baseline (and a udp-echo VM) in the same run, and guest instructions per HTTP request on a kept-alive connection
// and with a new connection per request, counted exactly with `perf stat -e kvm:kvm_emulate_insn`.
import ArgumentParser
import DenaliCore
import Foundation
import KVM

/// `denali-bench http`.
struct HTTPBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "http",
    abstract: "httpd requests per second under wrk beside tap-echo, and guest instructions per HTTP request.",
    discussion: """
      Needs root, iproute2, wrk (Debian wrk) and the tap-echo baseline; perf for the instruction counts (skipped
      without it). It runs inside network namespace denali-http-PID, created and deleted around the measurement.
        wrk: httpd serves a site image (one SIZE-byte file.html, packed like `denalid disk pack`) behind the TAP
        uplink; `wrk -t 1 -c C -d D` fetches it over C kept-alive connections, for each C of --wrk-connections.
        Every response must be a 200 (wrk's non-2xx and socket-error counts must be 0).
        baseline: sequential UDP round trips of 64 bytes from a host socket through a TAP device to tap-echo
        (Benchmarks/tap-echo, C), and to a udp-echo VM through the switch, as `denali-bench net` measures them; one
        round trip is one request.
        Instructions: httpd under `perf stat -e kvm:kvm_emulate_insn` (one event per emulated guest instruction, the
        whole VM). Kept-alive: (runs with R and R/10 requests on one connection) difference / (0.9 R). New
        connection per request (connect, the request with Connection: close, the server's close): the same with R
        and R/10 connections. Requests are curl's (Host, User-Agent, Accept); every response is checked.
      """
  )

  @Option(help: "Bytes of the file requested.")
  var size: Int = 1024

  @Option(help: "Requests (or connections) of the instruction count's long run.")
  var requests: Int = 200

  @Option(help: "Seconds of each wrk run.")
  var duration: Int = 10

  @Option(help: "Alternating rounds of the wrk runs and the baselines (the median round is reported).")
  var rounds: Int = 3

  @Option(help: "wrk's connection counts, comma-separated (httpd gets max-connections to match).")
  var wrkConnections: String = "1,16,100"

  @Option(help: "UDP round trips of each baseline measurement.")
  var roundTrips: Int = 2000

  @Option(help: "Folder of the guest images (httpd, udp-echo).")
  var guests: String = "Guests/build"

  @Option(help: "The C baseline (default: tap-echo beside this executable).")
  var baseline: String?

  @OptionGroup var output: ReportOptions

  /// What `http` reports: httpd's rate per connection count beside the baselines' rates, and guest instructions
  /// per request (nil without perf).
  struct Figures: Encodable {
    /// Bytes of the file requested.
    let size: Int
    /// Per wrk connection count: httpd's median requests per second against tap-echo's round trips per second.
    let wrk: [WrkFigure]
    /// A udp-echo VM's round trips per second against tap-echo's (the same baseline).
    let udpEchoVMRoundTripsPerSecond: Comparison<Double>
    /// Guest instructions per request on a kept-alive connection, and with a new connection per request.
    let instructionsKeptAlive: Double?, instructionsNewConnection: Double?
  }

  /// One connection count's median wrk round.
  struct WrkFigure: Encodable {
    /// wrk's connections.
    let connections: Int
    /// Requests per second against tap-echo's round trips per second.
    let requestsPerSecond: Comparison<Double>
    /// Segments Linux retransmitted during the run.
    let retransmissions: Int
  }

  /// The connection counts of --wrk-connections.
  private var connectionCounts: [Int] { wrkConnections.split(separator: ",").compactMap { Int($0) } }

  func validate() throws {
    let counts = wrkConnections.split(separator: ",")
    guard size >= 0, size <= 1 << 20, requests >= 10, duration >= 1, rounds >= 1, roundTrips >= 10, !counts.isEmpty,
      counts.allSatisfy({ Int($0).map { $0 >= 1 && $0 <= 1024 } ?? false })
    else {
      throw ValidationError(
        "--size 0-1048576, --requests >= 10, --duration >= 1, --rounds >= 1, --round-trips >= 10, "
          + "--wrk-connections a list of 1-1024")
    }
  }

  func run() throws {
    guard BenchmarkNamespace.current != nil else {
      return try BenchmarkNamespace.rerunInside(prefix: "denali-http", benchmark: "http")
    }
    guard BenchmarkNamespace.isInstalled("wrk") else {
      throw BenchmarkError("wrk not found (Debian wrk; scripts/setup.sh)")
    }
    let site = FileManager.default.temporaryDirectory.appendingPathComponent("denali-http-bench-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: site) }
    try FileManager.default.createDirectory(atPath: site + "/site", withIntermediateDirectories: true)
    var file = [UInt8](repeating: 0, count: size)
    for index in file.indices { file[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 8) }
    try Data(file).write(to: URL(fileURLWithPath: site + "/site/file.html"))
    let image = site + "/site.img"
    _ = try SiteImagePacker.pack(directory: site + "/site", output: image)

    let system = try KVMSystem()
    let echo = try GuestImage(contentsOf: "\(guests)/udp-echo.elf", memorySize: VMConfiguration.defaultMemorySize)
    let baselinePath =
      baseline
      ?? URL(fileURLWithPath: BaselineProgram.defaultPath).deletingLastPathComponent()
      .appendingPathComponent("tap-echo").path
    var runs: [Int: [WrkRun]] = [:]
    var taps: [UInt64] = []
    var vms: [UInt64] = []
    for round in 0..<rounds {
      for connections in connectionCounts {
        runs[connections, default: []].append(try wrkRate(image: image, connections: connections))
      }
      taps.append(try NetworkBenchmark.tapEcho(program: baselinePath, count: roundTrips, size: 64, round: round))
      vms.append(try NetworkBenchmark.hostToVM(system: system, echo: echo, count: roundTrips, size: 64, round: round))
    }
    let tap = SampleSummary(taps).median
    let vm = SampleSummary(vms).median
    let tapRate = 1e9 / Double(max(tap, 1))
    let vmRate = 1e9 / Double(max(vm, 1))

    var kept: Double?
    var fresh: Double?
    var perfLines: [String] = ["guest instructions: skipped (perf not found; Debian linux-perf)"]
    if BenchmarkNamespace.isInstalled("perf") {
      let few = requests / 10
      let long = try instructions(image: image, requests: requests, newConnections: false)
      let brief = try instructions(image: image, requests: few, newConnections: false)
      let many = try instructions(image: image, requests: requests, newConnections: true)
      let some = try instructions(image: image, requests: few, newConnections: true)
      let keptValue = Double(Int64(long.instructions) - Int64(brief.instructions)) / Double(requests - few)
      let freshValue = Double(Int64(many.instructions) - Int64(some.instructions)) / Double(requests - few)
      (kept, fresh) = (keptValue, freshValue)
      perfLines = [
        "guest instructions per request (perf stat -e kvm:kvm_emulate_insn, httpd, \(size)-byte file):",
        "  kept-alive connection: \(decimal(keptValue, places: 0)) (\(long.instructions) with \(requests) requests, "
          + "\(brief.instructions) with \(few); \(microseconds(long.nanoseconds / UInt64(requests))) per request on the Linux side)",
        "  new connection per request: \(decimal(freshValue, places: 0)) (\(many.instructions) with \(requests) connections, "
          + "\(some.instructions) with \(few); \(microseconds(many.nanoseconds / UInt64(requests))) per request on the Linux side)",
      ]
    }
    let wrkFigures: [WrkFigure] = connectionCounts.compactMap { connections in
      let samples = (runs[connections] ?? []).sorted { $0.requests < $1.requests }
      guard !samples.isEmpty else { return nil }
      let median = samples[samples.count / 2]
      return WrkFigure(
        connections: connections, requestsPerSecond: Comparison(median.requests, tapRate),
        retransmissions: median.retransmissions)
    }
    let figures = Figures(
      size: size, wrk: wrkFigures, udpEchoVMRoundTripsPerSecond: Comparison(vmRate, tapRate),
      instructionsKeptAlive: kept, instructionsNewConnection: fresh)
    try report(figures) {
      print(
        "denali-bench http: one httpd VM, a \(size)-byte file, wrk -t 1 -d \(duration)s over kept-alive connections, "
          + "\(rounds) alternating rounds, median round; the baselines are sequential 64-byte UDP round trips")
      print(
        "                                        requests/s     vs tap-echo   latency (wrk mean)   Linux retransmits")
      for connections in connectionCounts {
        let samples = (runs[connections] ?? []).sorted { $0.requests < $1.requests }
        guard !samples.isEmpty else { continue }
        let median = samples[samples.count / 2]
        print(
          row("httpd, wrk -c \(connections)", median.requests, tapRate)
            + median.latency.padding(toLength: 21, withPad: " ", startingAt: 0) + "\(median.retransmissions)")
      }
      print(row("udp-echo VM (host socket, TAP, switch)", vmRate, tapRate) + microseconds(vm))
      print(row("baseline: tap-echo (C, on the TAP)", tapRate, tapRate) + microseconds(tap))
      for connections in connectionCounts {
        print(
          "rounds, wrk -c \(connections) (requests/s): "
            + (runs[connections] ?? []).map { decimal($0.requests, places: 0) }.joined(separator: " / "))
      }
      print(
        "rounds, tap-echo: \(taps.map { microseconds($0) }.joined(separator: " / ")); udp-echo VM: "
          + vms.map { microseconds($0) }.joined(separator: " / "))
      for line in perfLines { print(line) }
    }
  }

  private func row(_ label: String, _ rate: Double, _ baseline: Double) -> String {
    label.padding(toLength: 40, withPad: " ", startingAt: 0)
      + decimal(rate, places: 0).padding(toLength: 15, withPad: " ", startingAt: 0)
      + (decimal(rate / max(baseline, 1e-9), places: 4) + "x").padding(toLength: 14, withPad: " ", startingAt: 0)
  }

  // MARK: httpd

  /// The TAP's host address and the guest's (the only VM).
  static let hostAddress = "10.98.0.1", guestAddress = "10.98.0.2"

  /// Starts httpd over `image` behind TAP dhttp0 with `arguments`, optionally under perf stat writing to `perfOutput`.
  private func startServer(image: String, _ arguments: [String], perfOutput: String? = nil) throws -> Process {
    try BenchmarkGuestRun.start(
      [
        "run", "\(guests)/httpd.elf", "--tap", "dhttp0", "--tap-address", "\(Self.hostAddress)/24", "--disk", image,
        "--disk-readonly", "--quiet", "--timeout", "900s", "--",
      ] + arguments + ["quiet"], perfOutput: perfOutput)
  }

  /// One wrk run: requests per second, wrk's mean latency, and the segments Linux retransmitted meanwhile.
  struct WrkRun {
    let requests: Double
    let latency: String
    let retransmissions: Int
  }

  /// Segments this namespace's TCP has retransmitted (RetransSegs of /proc/self/net/snmp), or 0 if unreadable.
  static func retransmittedSegments() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/net/snmp", encoding: .utf8) else { return 0 }
    let lines = text.split(separator: "\n").filter { $0.hasPrefix("Tcp:") }
    guard lines.count >= 2, let column = lines[0].split(separator: " ").firstIndex(of: "RetransSegs") else { return 0 }
    let values = lines[1].split(separator: " ")
    return column < values.count ? Int(values[column]) ?? 0 : 0
  }

  /// wrk over `connections` kept-alive connections for `duration` seconds.
  private func wrkRate(image: String, connections: Int) throws -> WrkRun {
    // A 4 MiB VM (the default) holds 100 connections with 4 KiB buffers; more need more memory.
    let server = try startServer(
      image: image, ["max-connections=\(connections)", "buffer=\(connections > 100 ? 2048 : 4096)", "idle-ms=600000"])
    defer {
      // Let wrk's connections finish closing first, so no retransmitted FIN counts in the next run.
      Thread.sleep(forTimeInterval: 2)
      server.terminate()
      try? waitForExit(server, limit: .seconds(30), what: "httpd to stop")
    }
    // The first connection also waits for the guest to come up.
    let url = "http://\(Self.guestAddress)/file.html"
    let probe = try TCPHostPeer.connect(to: Self.guestAddress, port: 80, within: .seconds(60))
    close(probe)
    let retransmittedBefore = Self.retransmittedSegments()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["wrk", "-t", "1", "-c", "\(connections)", "-d", "\(duration)s", "--timeout", "30s", url]
    let output = Pipe()
    process.standardOutput = output
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = try withDeadline(process, limit: .seconds(duration + 120), what: "wrk") {
      let data = output.fileHandleForReading.readDataToEndOfFile()
      process.waitUntilExit()
      return data
    }
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0,
      let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Requests/sec:") }),
      let rate = Double(line.dropFirst("Requests/sec:".count).trimmingCharacters(in: .whitespaces))
    else { throw BenchmarkError("wrk -c \(connections) failed: \(text)") }
    guard !text.contains("Non-2xx"), !text.contains("Socket errors") else {
      throw BenchmarkError("wrk -c \(connections) saw errors: \(text)")
    }
    let latency =
      text.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("Latency") }
      .map { String($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "?") } ?? "?"
    return WrkRun(requests: rate, latency: latency, retransmissions: Self.retransmittedSegments() - retransmittedBefore)
  }

  /// Instructions of an httpd run serving `requests` requests (on one connection, or one connection each), and the
  /// Linux side's time for them.
  private func instructions(image: String, requests: Int, newConnections: Bool) throws
    -> (instructions: UInt64, nanoseconds: UInt64)
  {
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("denali-http-perf-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: output) }
    let server = try startServer(image: image, ["count=\(requests)"], perfOutput: output)
    let elapsed =
      newConnections
      ? try HTTPHostClient.newConnections(address: Self.guestAddress, path: "/file.html", size: size, count: requests)
      : try HTTPHostClient.keptAlive(address: Self.guestAddress, path: "/file.html", size: size, count: requests)
    try BenchmarkGuestRun.waitForSuccess(server, limit: .seconds(900), what: "perf stat ... httpd")
    return (try BenchmarkGuestRun.emulatedInstructions(perfOutput: output), elapsed)
  }
}
