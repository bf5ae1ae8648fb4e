// TCPBenchmark.swift: `denali-bench tcp`: bulk TCP throughput between a guest (tcp-bulk) and Linux both ways, beside
// the same transfer between two Linux endpoints over a veth pair in the same run; and guest instructions per echo
// round trip and per connection (tcp-echo), counted exactly with `perf stat -e kvm:kvm_emulate_insn`.
import ArgumentParser
import DenaliCore
import Foundation

/// `denali-bench tcp`.
struct TCPBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "tcp",
    abstract: "TCP throughput guest<->Linux beside Linux<->Linux over veth, and guest instructions per request.",
    discussion: """
      Needs root, iproute2 and socat (it creates network namespaces denali-tcp-PID and denali-tcp-PID-far, and a
      veth pair between them, and deletes them afterwards), and perf for the instruction counts (skipped without it).
        guest -> Linux: tcp-bulk mode=send behind the TAP uplink; a Linux socket reads until EOF.
        Linux -> guest: a Linux socket sends, tcp-bulk mode=sink reads until EOF.
        Linux -> Linux: the same transfers between this namespace and the far one over the veth pair (socat there).
        Each is timed on the Linux side, from connect to the peer's EOF; the median of the rounds is reported.
        Instructions: tcp-echo under `perf stat -e kvm:kvm_emulate_insn` (one event per emulated guest instruction,
        the whole VM: boot, TCP, the echo). Per round trip: (runs with R and R/10 round trips of SIZE bytes on one
        connection) difference / (0.9 R). Per connection (connect, one round trip, close): the same with C and C/10
        connections.
      """
  )

  @Option(help: "Bytes per bulk transfer.")
  var bytes: Int = 2 << 20

  @Option(help: "Rounds of each transfer (the median is reported).")
  var rounds: Int = 3

  @Option(help: "tcp-bulk's socket buffers in bytes (a power of two, 1024-65536): its window.")
  var buffer: Int = 32768

  @Option(help: "Echo round trips on one connection (the instruction count's long run).")
  var roundTrips: Int = 200

  @Option(help: "Connections (the instruction count's long run).")
  var connections: Int = 100

  @Option(help: "Echo payload bytes.")
  var size: Int = 1024

  @Option(help: "Folder of the guest images (tcp-bulk, tcp-echo).")
  var guests: String = "Guests/build"

  @OptionGroup
  var output: ReportOptions

  /// What `tcp` reports: nanoseconds per transfer (the median round) beside Linux-to-Linux, and guest instructions.
  struct Figures: Encodable {
    /// Bytes per transfer, rounds, tcp-bulk's buffers.
    let bytes: Int, rounds: Int, buffer: Int
    /// The guest sending to Linux beside Linux receiving from Linux, and the guest receiving beside Linux sending.
    let guestToLinuxNs: Comparison<UInt64>, linuxToGuestNs: Comparison<UInt64>
    /// Every round's figures, nanoseconds.
    let guestToLinuxRoundsNs: [UInt64], linuxToGuestRoundsNs: [UInt64]
    let linuxToLinuxInRoundsNs: [UInt64], linuxToLinuxOutRoundsNs: [UInt64]
    /// Guest instructions per echo round trip and per connection (absent without perf).
    var instructionsPerRoundTrip: Double?, instructionsPerConnection: Double?
  }

  func validate() throws {
    guard bytes >= 65536, rounds >= 1, buffer >= 1024, buffer <= 65536, buffer & (buffer - 1) == 0,
      roundTrips >= 10, connections >= 10, size >= 1, size <= 65536
    else {
      throw ValidationError(
        "--bytes >= 65536, --rounds >= 1, --buffer a power of two 1024-65536, --round-trips >= 10, "
          + "--connections >= 10, --size 1-65536")
    }
  }

  func run() throws {
    guard let namespace = BenchmarkNamespace.current else {
      return try BenchmarkNamespace.rerunInside(prefix: "denali-tcp", benchmark: "tcp")
    }
    let far = namespace + "-far"
    try setUpVeth(far: far)
    defer { _ = try? BenchmarkNamespace.command(["ip", "netns", "delete", far]) }

    let runs = try alternatingRounds(
      rounds, denalid: { _ in (toLinux: try guestSends(), toGuest: try guestSinks()) },
      baseline: { _ in (out: try linuxSends(far: far), in: try linuxSinks(far: far)) })
    let toLinux = runs.denalid.map(\.toLinux)
    let toGuest = runs.denalid.map(\.toGuest)
    let linuxOut = runs.baseline.map(\.out)
    let linuxIn = runs.baseline.map(\.in)
    var figures = Figures(
      bytes: bytes, rounds: rounds, buffer: buffer, guestToLinuxNs: Comparison(percentile: 50, of: toLinux, linuxIn),
      linuxToGuestNs: Comparison(percentile: 50, of: toGuest, linuxOut), guestToLinuxRoundsNs: toLinux,
      linuxToGuestRoundsNs: toGuest, linuxToLinuxInRoundsNs: linuxIn, linuxToLinuxOutRoundsNs: linuxOut)
    let instructions = BenchmarkNamespace.isInstalled("perf") ? try countInstructions() : nil
    figures.instructionsPerRoundTrip = instructions?.perTrip
    figures.instructionsPerConnection = instructions?.perConnection
    try report(figures) {
      printTransfers(figures)
      guard let instructions else {
        print("guest instructions: skipped (perf not found; Debian linux-perf)")
        return
      }
      printInstructions(instructions)
    }
  }

  /// The transfers' figures for people.
  private func printTransfers(_ figures: Figures) {
    let (toLinux, toGuest) = (figures.guestToLinuxRoundsNs, figures.linuxToGuestRoundsNs)
    let (linuxIn, linuxOut) = (figures.linuxToLinuxInRoundsNs, figures.linuxToLinuxOutRoundsNs)
    let median = { (samples: [UInt64]) in SampleSummary(samples).median }
    print("denali-bench tcp: \(bytes) bytes per transfer, \(rounds) rounds, median; tcp-bulk buffers \(buffer) bytes")
    print("                                   seconds      KiB/s        time vs Linux-to-Linux")
    print(row("guest -> Linux (TAP)", median(toLinux), median(linuxIn)))
    print(row("Linux -> guest (TAP)", median(toGuest), median(linuxOut)))
    print(row("Linux -> Linux (veth), in", median(linuxIn), median(linuxIn)))
    print(row("Linux -> Linux (veth), out", median(linuxOut), median(linuxOut)))
    print(
      "rounds (ms): guest->Linux \(toLinux.map { $0 / 1_000_000 }), Linux->guest \(toGuest.map { $0 / 1_000_000 }), "
        + "Linux->Linux in \(linuxIn.map { $0 / 1_000 }) µs, out \(linuxOut.map { $0 / 1_000 }) µs")
  }

  /// Guest instructions counted under perf: per echo round trip and per connection, and the runs they come from.
  struct InstructionCounts {
    /// The runs with R and R/10 round trips on one connection, and with C and C/10 connections.
    let long: (instructions: UInt64, nanoseconds: UInt64), brief: (instructions: UInt64, nanoseconds: UInt64)
    let many: (instructions: UInt64, nanoseconds: UInt64), some: (instructions: UInt64, nanoseconds: UInt64)
    /// Instructions per round trip and per connection (the difference of the runs over the difference of counts).
    let perTrip: Double, perConnection: Double
  }

  /// Runs tcp-echo under perf four times and derives the instructions per round trip and per connection.
  private func countInstructions() throws -> InstructionCounts {
    let short = roundTrips / 10
    let few = connections / 10
    let long = try echoInstructions(connections: 1, roundTripsEach: roundTrips)
    let brief = try echoInstructions(connections: 1, roundTripsEach: short)
    let many = try echoInstructions(connections: connections, roundTripsEach: 1)
    let some = try echoInstructions(connections: few, roundTripsEach: 1)
    return InstructionCounts(
      long: long, brief: brief, many: many, some: some,
      perTrip: Double(Int64(long.instructions) - Int64(brief.instructions)) / Double(roundTrips - short),
      perConnection: Double(Int64(many.instructions) - Int64(some.instructions)) / Double(connections - few))
  }

  /// The instruction counts for people.
  private func printInstructions(_ counts: InstructionCounts) {
    let (long, brief, many, some) = (counts.long, counts.brief, counts.many, counts.some)
    let (short, few, perTrip, perConnection) = (roundTrips / 10, connections / 10, counts.perTrip, counts.perConnection)
    print("guest instructions (perf stat -e kvm:kvm_emulate_insn, tcp-echo, \(size)-byte echoes):")
    print(
      "  per round trip on a kept-alive connection: \(decimal(perTrip, places: 0)) "
        + "(\(long.instructions) with \(roundTrips), \(brief.instructions) with \(short); "
        + "\(microseconds(long.nanoseconds / UInt64(roundTrips))) per round trip on the Linux side)")
    print(
      "  per connection (connect, one round trip, close): \(decimal(perConnection, places: 0)) "
        + "(\(many.instructions) with \(connections), \(some.instructions) with \(few); "
        + "\(microseconds(many.nanoseconds / UInt64(connections))) per connection on the Linux side)")
  }

  private func row(_ label: String, _ nanoseconds: UInt64, _ baseline: UInt64) -> String {
    let seconds = Double(nanoseconds) / 1e9
    let rate = seconds > 0 ? Double(bytes) / 1024 / seconds : 0
    return label.padding(toLength: 35, withPad: " ", startingAt: 0)
      + decimal(seconds, places: 4).padding(toLength: 13, withPad: " ", startingAt: 0)
      + decimal(rate, places: 0).padding(toLength: 13, withPad: " ", startingAt: 0) + ratio(nanoseconds, baseline)
  }

  // MARK: The guest's side

  /// The TAP's host address and the guest's (the only VM).
  static let hostAddress = "10.96.0.1", guestAddress = "10.96.0.2"

  /// Starts `denalid run IMAGE` behind TAP dtcp0 with `arguments`, optionally under perf stat writing to `perfOutput`.
  private func startGuest(_ image: String, _ arguments: [String], perfOutput: String? = nil) throws -> Process {
    try BenchmarkGuestRun.start(
      [
        "run", "\(guests)/\(image).elf", "--tap", "dtcp0", "--tap-address", "\(Self.hostAddress)/24", "--quiet",
        "--timeout",
        "600s", "--",
      ] + arguments, perfOutput: perfOutput)
  }

  /// Waits for a guest run to end; throws unless it exited 0.
  private func wait(_ process: Process, _ what: String) throws {
    try BenchmarkGuestRun.waitForSuccess(process, limit: .seconds(600), what: what)
  }

  /// tcp-bulk sends `bytes`; Linux reads until EOF. Nanoseconds from connect to EOF.
  private func guestSends() throws -> UInt64 {
    let guest = try startGuest("tcp-bulk", ["mode=send", "bytes=\(bytes)", "buffer=\(buffer)", "quiet"])
    let fd = try TCPHostPeer.connect(to: Self.guestAddress, port: 5001)
    let start = ContinuousClock.now
    let received = try TCPHostPeer.drain(fd)
    let elapsed = ContinuousClock.now - start
    close(fd)
    try wait(guest, "tcp-bulk mode=send")
    guard received == bytes else { throw BenchmarkError("guest -> Linux: \(received) of \(bytes) bytes") }
    return nanoseconds(elapsed)
  }

  /// Linux sends `bytes`; tcp-bulk reads until EOF. Nanoseconds from connect to the guest's EOF.
  private func guestSinks() throws -> UInt64 {
    let guest = try startGuest("tcp-bulk", ["mode=sink", "bytes=\(bytes)", "buffer=\(buffer)", "quiet"])
    let fd = try TCPHostPeer.connect(to: Self.guestAddress, port: 5001)
    let start = ContinuousClock.now
    try TCPHostPeer.send(fd, count: bytes)
    try TCPHostPeer.finish(fd)
    let elapsed = ContinuousClock.now - start
    try wait(guest, "tcp-bulk mode=sink")
    return nanoseconds(elapsed)
  }

  /// Instructions of a tcp-echo run serving `connections` connections of `roundTripsEach` echoes each, and the
  /// Linux side's time for them.
  private func echoInstructions(connections: Int, roundTripsEach: Int) throws -> (
    instructions: UInt64, nanoseconds: UInt64
  ) {
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("denali-tcp-perf-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: output) }
    let guest = try startGuest(
      "tcp-echo", ["count=\(connections)", "time-wait-ms=100", "buffer=\(max(2048, buffer))", "quiet"],
      perfOutput: output)
    var elapsed = Duration.zero
    for _ in 0..<connections {
      let fd = try TCPHostPeer.connect(to: Self.guestAddress, port: 7)
      let start = ContinuousClock.now
      try TCPHostPeer.roundTrips(fd, count: roundTripsEach, size: size)
      try TCPHostPeer.finish(fd)
      elapsed += ContinuousClock.now - start
    }
    try wait(guest, "perf stat ... tcp-echo")
    return (try BenchmarkGuestRun.emulatedInstructions(perfOutput: output), nanoseconds(elapsed))
  }

  // MARK: The Linux-to-Linux baseline

  /// A veth pair from this namespace (10.97.0.1) to the far one (10.97.0.2).
  private func setUpVeth(far: String) throws {
    for command in [
      ["ip", "netns", "add", far],
      ["ip", "-n", far, "link", "set", "lo", "up"],
      ["ip", "link", "add", "vtcp0", "type", "veth", "peer", "name", "vtcp1", "netns", far],
      ["ip", "addr", "add", "10.97.0.1/24", "dev", "vtcp0"],
      ["ip", "link", "set", "vtcp0", "up"],
      ["ip", "-n", far, "addr", "add", "10.97.0.2/24", "dev", "vtcp1"],
      ["ip", "-n", far, "link", "set", "vtcp1", "up"],
    ] {
      guard try BenchmarkNamespace.command(command) == 0 else {
        throw BenchmarkError("\(command.joined(separator: " ")) failed")
      }
    }
  }

  /// Starts socat in the far namespace with `arguments`.
  private func startFar(_ far: String, _ arguments: [String]) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["ip", "netns", "exec", far, "socat"] + arguments
    process.standardInput = FileHandle.nullDevice
    try process.run()
    return process
  }

  /// This namespace sends `bytes` to socat in the far one. Nanoseconds from connect to socat's EOF.
  private func linuxSends(far: String) throws -> UInt64 {
    let sink = try startFar(far, ["-u", "TCP-LISTEN:5001,reuseaddr", "OPEN:/dev/null,wronly"])
    defer { try? waitForExit(sink, limit: .seconds(120), what: "socat sinking the Linux transfer") }
    let fd = try TCPHostPeer.connect(to: "10.97.0.2", port: 5001)
    let start = ContinuousClock.now
    try TCPHostPeer.send(fd, count: bytes)
    try TCPHostPeer.finish(fd)
    return nanoseconds(ContinuousClock.now - start)
  }

  /// socat in the far namespace sends `bytes` here. Nanoseconds from connect to EOF.
  private func linuxSinks(far: String) throws -> UInt64 {
    let source = try startFar(far, ["-u", "OPEN:/dev/zero,readbytes=\(bytes)", "TCP-LISTEN:5002,reuseaddr"])
    defer { try? waitForExit(source, limit: .seconds(120), what: "socat sending the Linux transfer") }
    let fd = try TCPHostPeer.connect(to: "10.97.0.2", port: 5002)
    let start = ContinuousClock.now
    let received = try TCPHostPeer.drain(fd)
    let elapsed = ContinuousClock.now - start
    close(fd)
    guard received == bytes else { throw BenchmarkError("Linux -> Linux: \(received) of \(bytes) bytes") }
    return nanoseconds(elapsed)
  }
}
