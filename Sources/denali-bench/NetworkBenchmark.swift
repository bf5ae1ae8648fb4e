// NetworkBenchmark.swift: `denali-bench net`: VM-to-VM and host-to-VM UDP echo rates beside a minimal C program
// echoing over a TAP device in the same run, and a guest's echo rate beside a flooding guest. Runs in a network
// namespace of its own, created and deleted around the measurement.
import ArgumentParser
import DenaliCore
import Foundation
import KVM
import Synchronization

/// `denali-bench net`.
struct NetworkBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "net",
    abstract: "UDP echo rates VM-to-VM and host-to-VM, beside a C program echoing over a TAP device; flood fairness.",
    discussion: """
      Needs root (it creates network namespace denali-bench-PID with `ip netns add`, runs itself inside it,
      and deletes it afterwards). Every figure is sequential round trips of one datagram (one outstanding),
      so packets per second = 2 x round trips per second.
        VM-to-VM: a udp-client VM and a udp-echo VM on the virtual switch (the client's own clock).
        host-to-VM: a host UDP socket -> TAP -> switch -> udp-echo VM and back.
        baseline: the same host socket -> TAP -> tap-echo (Benchmarks/tap-echo, C) and back.
        fairness: a udp-client's echo rate with its udp-echo server alone, then with a udp-flood VM
        sending 1 KiB datagrams at the same server as fast as the switch takes them.
      """
  )

  @Option(help: "Round trips per measurement.")
  var roundTrips: Int = 2000

  @Option(help: "Alternating rounds of each measurement (the median is reported).")
  var rounds: Int = 3

  @Option(help: "UDP payload bytes.")
  var size: Int = 64

  @Option(help: "Echoes the fairness client makes in each of its two runs.")
  var fairnessEchoes: Int = 300

  @Option(help: "Folder of the guest images (udp-echo, udp-client, udp-flood).")
  var guests: String = "Guests/build"

  @Option(help: "The C baseline (default: tap-echo beside this executable).")
  var baseline: String?

  @OptionGroup
  var output: ReportOptions

  /// What `net` reports: nanoseconds per sequential round trip (the median round), and flood fairness.
  struct Figures: Encodable {
    /// Round trips per measurement, rounds, payload bytes.
    let roundTrips: Int, rounds: Int, size: Int
    /// VM-to-VM over the switch, and host-to-VM through the TAP uplink, each beside host-to-C over TAP.
    let vmToVmNsPerRoundTrip: Comparison<UInt64>, hostToVmNsPerRoundTrip: Comparison<UInt64>
    /// Every round's figure, nanoseconds per round trip.
    let vmToVmRoundsNs: [UInt64], hostToVmRoundsNs: [UInt64], baselineRoundsNs: [UInt64]
    /// The fairness client's round trips per second alone and beside the flooder.
    let fairnessAloneRoundTripsPerSecond: UInt64, fairnessFloodedRoundTripsPerSecond: UInt64
    /// Frames the flooder sent, and frames the server's full queue dropped.
    let floodFrames: UInt64, serverDrops: UInt64
  }

  func validate() throws {
    guard roundTrips >= 10, rounds >= 1, size >= 8, size <= 1472, fairnessEchoes >= 10 else {
      throw ValidationError("--round-trips >= 10, --rounds >= 1, --size 8-1472, --fairness-echoes >= 10")
    }
  }

  func run() throws {
    guard BenchmarkNamespace.current != nil else {
      return try BenchmarkNamespace.rerunInside(prefix: "denali-bench", benchmark: "net")
    }
    try measure()
  }

  // MARK: Measurement (inside the namespace)

  private func measure() throws {
    let system = try KVMSystem()
    let echo = try GuestImage(contentsOf: "\(guests)/udp-echo.elf", memorySize: VMConfiguration.defaultMemorySize)
    let client = try GuestImage(contentsOf: "\(guests)/udp-client.elf", memorySize: VMConfiguration.defaultMemorySize)
    let flood = try GuestImage(contentsOf: "\(guests)/udp-flood.elf", memorySize: VMConfiguration.defaultMemorySize)
    let baselinePath =
      baseline
      ?? URL(fileURLWithPath: BaselineProgram.defaultPath).deletingLastPathComponent()
      .appendingPathComponent("tap-echo").path

    let runs = try alternatingRounds(
      rounds,
      denalid: { round in
        (
          try Self.vmToVM(system: system, echo: echo, client: client, count: roundTrips, size: size),
          try Self.hostToVM(system: system, echo: echo, count: roundTrips, size: size, round: round)
        )
      },
      baseline: { round in try Self.tapEcho(program: baselinePath, count: roundTrips, size: size, round: round) })
    let fairness = try Self.fairness(system: system, echo: echo, client: client, flood: flood, count: fairnessEchoes)

    // Figures are nanoseconds per round trip; report the median of the rounds.
    let vmToVM = runs.denalid.map(\.0)
    let hostToVM = runs.denalid.map(\.1)
    let tapBaseline = runs.baseline
    let figures = Figures(
      roundTrips: roundTrips, rounds: rounds, size: size,
      vmToVmNsPerRoundTrip: Comparison(percentile: 50, of: vmToVM, tapBaseline),
      hostToVmNsPerRoundTrip: Comparison(percentile: 50, of: hostToVM, tapBaseline), vmToVmRoundsNs: vmToVM,
      hostToVmRoundsNs: hostToVM, baselineRoundsNs: tapBaseline, fairnessAloneRoundTripsPerSecond: fairness.alone,
      fairnessFloodedRoundTripsPerSecond: fairness.flooded, floodFrames: fairness.floodFrames,
      serverDrops: fairness.serverDrops)
    try report(figures) { printTable(figures) }
  }

  /// The figures for people.
  private func printTable(_ figures: Figures) {
    let (vmToVM, hostToVM, tapBaseline) = (figures.vmToVmRoundsNs, figures.hostToVmRoundsNs, figures.baselineRoundsNs)
    let (vm, host, base) = (
      figures.vmToVmNsPerRoundTrip.denalid, figures.hostToVmNsPerRoundTrip.denalid,
      figures.vmToVmNsPerRoundTrip.baseline
    )
    let fairness = (
      alone: figures.fairnessAloneRoundTripsPerSecond, flooded: figures.fairnessFloodedRoundTripsPerSecond
    )
    print(
      "denali-bench net: \(roundTrips) sequential UDP round trips of \(size) bytes per measurement, "
        + "\(rounds) alternating rounds, median round; packets per second = 2 x round trips per second")
    print("                                   per round trip   round trips/s   packets/s   vs baseline (time)")
    print(row("VM-to-VM (switch, 2 VMs)", vm, base))
    print(row("host-to-VM (TAP, switch, VM)", host, base))
    print(row("baseline: host-to-C over TAP", base, base))
    print(
      "rounds (µs per round trip): VM-to-VM \(vmToVM.map { microseconds($0) }), host-to-VM "
        + "\(hostToVM.map { microseconds($0) }), baseline \(tapBaseline.map { microseconds($0) })")
    print(
      "fairness: echo rate alone \(fairness.alone) round trips/s, beside a flooder \(fairness.flooded) round trips/s "
        + "(\(String(format: "%.2f", Double(fairness.flooded) / Double(max(1, fairness.alone)))) of alone); "
        + "the flooder sent \(figures.floodFrames) frames, the server's queue dropped \(figures.serverDrops)")
  }

  private func row(_ label: String, _ perTrip: UInt64, _ baseline: UInt64) -> String {
    let trips = perTrip > 0 ? 1_000_000_000 / perTrip : 0
    return label.padding(toLength: 35, withPad: " ", startingAt: 0)
      + microseconds(perTrip).padding(toLength: 17, withPad: " ", startingAt: 0)
      + "\(trips)".padding(toLength: 16, withPad: " ", startingAt: 0)
      + "\(trips * 2)".padding(toLength: 12, withPad: " ", startingAt: 0) + ratio(perTrip, baseline)
  }

  /// A console capture shared with worker threads.
  final class Capture: Sendable {
    private let bytes = Locked<[UInt8]>([])
    /// The sink.
    var sink: ConsoleDevice.Sink { { [self] buffer in bytes.withLock { $0.append(contentsOf: buffer) } } }
    /// The text so far.
    var text: String { bytes.withLock { String(decoding: $0, as: UTF8.self) } }
  }

  /// Creates VMs `images` (ids 1, 2, ...) with NICs on `fabric`, all with `arguments`, and submits them.
  static func launch(
    _ images: [GuestImage], arguments: [String], system: KVMSystem, fabric: VirtualSwitch, scheduler: Scheduler,
    capture: Capture, firstID: UInt64 = 1
  ) throws -> [GuestVM] {
    try images.enumerated().map { index, image in
      let id = firstID + UInt64(index)
      var configuration = VMConfiguration(arguments: arguments, id: id)
      configuration.network = try fabric.addPort(id: id)
      let vm = try GuestVM(system: system, image: image, configuration: configuration, console: capture.sink)
      scheduler.submit(vm, name: "vm\(id)")
      return vm
    }
  }

  /// Nanoseconds per round trip from the client's `udp-client: N/N echoes ... in U us` line.
  static func clientRoundTrip(_ text: String, count: Int) throws -> UInt64 {
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("udp-client: \(count)/\(count) ") }),
      let inIndex = line.range(of: " in "), let micros = UInt64(line[inIndex.upperBound...].prefix { $0.isNumber })
    else { throw BenchmarkError("the udp-client guest did not get every echo: \(text)") }
    return micros * 1000 / UInt64(count)
  }

  /// Runs `body` with a started switch (`configuration`, and `uplink` when given) and a started scheduler, both
  /// stopped after it.
  static func onSwitch<T>(
    _ configuration: VirtualSwitch.Configuration, uplink: TapUplink? = nil,
    _ body: (VirtualSwitch, Scheduler) throws -> T
  ) throws -> T {
    let fabric = VirtualSwitch(configuration: configuration)
    if let uplink { try fabric.attach(uplink: uplink) }
    fabric.start()
    defer { fabric.stop() }
    let scheduler = Scheduler()
    scheduler.start()
    defer { scheduler.stop() }
    return try body(fabric, scheduler)
  }

  /// A udp-echo and a udp-client VM on one switch.
  static func vmToVM(system: KVMSystem, echo: GuestImage, client: GuestImage, count: Int, size: Int) throws -> UInt64 {
    try onSwitch(.init(subnet: IPv4Subnet(address: IPv4Address(10, 92, 0, 0), prefixLength: 24))) {
      fabric, scheduler in
      let capture = Capture()
      _ = try launch(
        [echo, client], arguments: ["peer=-1", "count=\(count)", "size=\(size)", "timeout-ms=5000", "linger-ms=200"],
        system: system, fabric: fabric, scheduler: scheduler, capture: capture)
      _ = try scheduler.finishAll(within: .seconds(300))
      return try clientRoundTrip(capture.text, count: count)
    }
  }

  /// A host socket echoing through the TAP uplink with a udp-echo VM.
  static func hostToVM(system: KVMSystem, echo: GuestImage, count: Int, size: Int, round: Int) throws -> UInt64 {
    let host = IPv4Subnet(address: IPv4Address(10, 93, 0, 1), prefixLength: 24)
    let result = try onSwitch(
      .init(subnet: IPv4Subnet(address: host.network, prefixLength: 24), gateway: host.address),
      uplink: try TapUplink(name: "dnbench\(round)", address: host)
    ) { fabric, scheduler in
      let vms = try launch(
        [echo], arguments: ["quiet"], system: system, fabric: fabric, scheduler: scheduler, capture: Capture())
      let result = try UDPEchoClient(address: "10.93.0.2", port: 7, size: size).run(count: count)
      for vm in vms { scheduler.expire(id: vm.configuration.id) }
      _ = try scheduler.finishAll(within: .seconds(60))
      return result
    }
    guard result.completed == count else { throw BenchmarkError("host-to-VM: \(result.completed) of \(count) echoes") }
    return result.nanoseconds / UInt64(count)
  }

  /// The same host socket echoing through a TAP device with the C program `tap-echo`.
  static func tapEcho(program: String, count: Int, size: Int, round: Int) throws -> UInt64 {
    let result = try TapEchoProgram.whileRunning(
      program, device: "dnbase\(round)", hostAddress: "10.94.0.1/24", echoAddress: "10.94.0.2"
    ) { try UDPEchoClient(address: "10.94.0.2", port: 7, size: size).run(count: count) }
    guard result.completed == count else { throw BenchmarkError("baseline: \(result.completed) of \(count) echoes") }
    return result.nanoseconds / UInt64(count)
  }

  /// Echo rate (round trips per second) of a udp-client alone with its server, then beside a udp-flood VM.
  static func fairness(system: KVMSystem, echo: GuestImage, client: GuestImage, flood: GuestImage, count: Int) throws
    -> (alone: UInt64, flooded: UInt64, floodFrames: UInt64, serverDrops: UInt64)
  {
    var rates: [UInt64] = []
    var floodFrames: UInt64 = 0
    var serverDrops: UInt64 = 0
    for withFlood in [false, true] {
      try onSwitch(.init(subnet: IPv4Subnet(address: IPv4Address(10, 95, 0, 0), prefixLength: 24))) {
        fabric, scheduler in
        let capture = Capture()
        let arguments = ["peer=10.95.0.1", "count=\(count)", "timeout-ms=5000", "linger-ms=100"]
        let vms = try launch(
          withFlood ? [echo, client, flood] : [echo, client], arguments: arguments, system: system,
          fabric: fabric, scheduler: scheduler, capture: capture)
        if withFlood {
          // The flooder never stops by itself: end it once the server and the client are done.
          let deadline = ContinuousClock.now + .seconds(300)
          while scheduler.liveCount > 1, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
          scheduler.expire(id: vms[2].configuration.id)
        }
        _ = try scheduler.finishAll(within: .seconds(300))
        rates.append(1_000_000_000 / max(1, try clientRoundTrip(capture.text, count: count)))
        if withFlood, let flooder = vms[2].network.port, let server = vms[0].network.port {
          floodFrames = flooder.counters.packetsOut
          serverDrops = server.counters[.receiveQueueFull]
        }
      }
    }
    return (rates[0], rates[1], floodFrames, serverDrops)
  }
}
