// DaemonNetworkBenchmark.swift: `denali-bench daemon-net`: host-to-VM UDP round trips through `denalid serve` (TAP
// uplink, switch, wake on packet) to a resident, an idle and a swapped-out VM, beside the C tap-echo baseline in the
// same run; and the host memory the network adds per VM. Runs in a network namespace of its own.
import ArgumentParser
import CHostStats
import ControlAPI
import DenaliCore
import Foundation

/// `denali-bench daemon-net`.
struct DaemonNetworkBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "daemon-net",
    abstract: "Host-to-VM UDP round trips through the daemon to resident, idle and swapped-out VMs, beside tap-echo.",
    discussion: """
      Needs root: it creates network namespace denali-bench-dnet-PID, runs itself inside it and deletes it after.
      There it starts `denalid serve` as a child (network 10.97.0.0/16, uplink tap dnbd0, a memory budget for
      --resident VMs of 2 MiB) and spawns udp-echo VMs through the API with --network. Every sample is one UDP
      round trip of --size bytes from a host socket, one outstanding, each kind in its own phase:
        resident: back to back to one VM (in memory; it idles between datagrams for microseconds);
        idle: to one VM that has idled --idle-ms since its last datagram (still in memory);
        swapped-out: to the VMs of a pool larger than the budget, in turn, so each was swapped out to make room
          for the others before its turn: the datagram wakes it, the gatekeeper admits it, a swap thread swaps
          it in, and it echoes (each sample's VM is checked to be swapped out just before);
        baseline: the same host socket to tap-echo (Benchmarks/tap-echo, C) over a TAP device.
      Then it measures the host memory the network adds per VM: malloc's bytes in use for --ports ports on a
      switch (port, queues, counters, address tables), and the bytes an address adds to a VM's journal line.
      """
  )

  @Option(help: "Round trips per kind.")
  var samples: Int = 200

  @Option(help: "How long the idle VM idles before each of its samples, in milliseconds.")
  var idleMs: Int = 100

  @Option(help: "VMs the memory budget holds (the pool of swapped-out VMs is this plus 8).")
  var resident: Int = 8

  @Option(help: "UDP payload bytes.")
  var size: Int = 64

  @Option(help: "Ports made for the memory-per-VM figure.")
  var ports: Int = 10_000

  @Option(help: "Folder of the guest images (udp-echo).")
  var guests: String = "Guests/build"

  @Option(help: "The C baseline (default: tap-echo beside this executable).")
  var baseline: String?

  @Option(help: "The daemon's vm-processes (above 1: the VMs spread over that many processes, joined by the hub).")
  var vmProcesses: Int = 1

  @OptionGroup var output: ReportOptions

  /// What `daemon-net` reports: round trips through the daemon by kind beside the baseline, nanoseconds, and the
  /// host bytes the network adds per VM.
  struct Figures: Encodable {
    /// Round trips to one resident VM, back to back: median and p99 beside the baseline's.
    let residentMedianNs: Comparison<UInt64>, residentP99Ns: Comparison<UInt64>
    /// Round trips to one VM idle for --idle-ms before each.
    let idleMedianNs: Comparison<UInt64>, idleP99Ns: Comparison<UInt64>
    /// Round trips to VMs swapped out just before (each wakes, is admitted and swapped in).
    let swappedOutMedianNs: Comparison<UInt64>, swappedOutP99Ns: Comparison<UInt64>
    /// Swapped-out samples taken, samples skipped (their VM was in memory after all), swap-ins in that phase.
    let swappedOutSamples: Int, swappedOutSkipped: Int, swapIns: UInt64
    /// Datagrams resent after a second without their echo.
    let resends: Int
    /// Host bytes per VM: its switch port, its VM record's network fields, its journal line's address.
    let portBytes: Int, recordBytes: Int, journalBytes: Int
  }

  func validate() throws {
    guard samples >= 10, idleMs >= 1, resident >= 2, size >= 8, size <= 1472, ports >= 100 else {
      throw ValidationError("--samples >= 10, --idle-ms >= 1, --resident >= 2, --size 8-1472, --ports >= 100")
    }
    guard vmProcesses >= 1, vmProcesses <= 64, resident >= 2 * vmProcesses else {
      throw ValidationError("--vm-processes from 1 to 64, with --resident at least twice that (2 per process)")
    }
  }

  func run() throws {
    guard BenchmarkNamespace.current != nil else {
      return try BenchmarkNamespace.rerunInside(prefix: "denali-bench-dnet", benchmark: "daemon-net")
    }
    let memory = Self.networkBytesPerPort(count: ports)
    let baselinePath =
      baseline
      ?? URL(fileURLWithPath: BaselineProgram.defaultPath).deletingLastPathComponent()
      .appendingPathComponent("tap-echo").path
    let base = try Self.baselineSamples(program: baselinePath, count: samples, size: size)
    let daemon = try BenchmarkDaemon(prefix: "denali-bench-dnet")
    defer {
      daemon.killIfRunning()
      daemon.removeDirectory()
    }
    let measured = try measure(daemon)
    _ = daemon.terminate(limit: .seconds(120))

    let figures = Figures(
      residentMedianNs: Comparison(percentile: 50, of: measured.resident, base),
      residentP99Ns: Comparison(percentile: 99, of: measured.resident, base),
      idleMedianNs: Comparison(percentile: 50, of: measured.idle, base),
      idleP99Ns: Comparison(percentile: 99, of: measured.idle, base),
      swappedOutMedianNs: Comparison(percentile: 50, of: measured.swappedOut, base),
      swappedOutP99Ns: Comparison(percentile: 99, of: measured.swappedOut, base),
      swappedOutSamples: measured.swappedOut.count, swappedOutSkipped: measured.notSwapped, swapIns: measured.swapIns,
      resends: measured.resends, portBytes: Int(memory.portBytes), recordBytes: Int(memory.recordBytes),
      journalBytes: Int(memory.journalBytes))
    try report(figures) { printTable(measured: measured, base: base, memory: memory) }
  }

  /// The figures for people.
  private func printTable(
    measured: Measured, base: [UInt64], memory: (portBytes: Int, recordBytes: Int, journalBytes: Int)
  ) {
    print(
      "denali-bench daemon-net: host-to-VM UDP round trips of \(size) bytes through `denalid serve` (TAP uplink, switch"
        + (vmProcesses > 1 ? "es of \(vmProcesses) VM processes joined by the daemon's hub" : "") + "), "
        + "\(samples) per kind, one outstanding")
    print("                                          median       p99          median vs baseline")
    for (label, values) in [
      ("resident VM (back to back)", measured.resident), ("idle VM (after \(idleMs) ms idle)", measured.idle),
      ("swapped-out VM (wake, swap-in)", measured.swappedOut), ("baseline: host-to-C over TAP", base),
    ] {
      let summary = SampleSummary(values)
      print(
        label.padding(toLength: 42, withPad: " ", startingAt: 0)
          + microseconds(summary.median).padding(toLength: 13, withPad: " ", startingAt: 0)
          + microseconds(summary.p99).padding(toLength: 13, withPad: " ", startingAt: 0)
          + ratio(summary.median, SampleSummary(base).median))
    }
    print(
      "swapped-out samples: \(measured.swappedOut.count) of \(measured.swappedOut.count + measured.notSwapped), each to a VM "
        + "the API showed swapped_out just before; \(measured.swapIns) swap-ins during that phase; resends \(measured.resends)"
    )
    print(
      "host memory the network adds per VM: \(memory.portBytes) bytes for its port on the switch (empty queues, counters, "
        + "address tables; malloc bytes in use over \(ports) ports), \(memory.recordBytes) bytes in its VM record (address and "
        + "saved counters), \(memory.journalBytes) bytes on its journal line; "
        + "queued frames at most 32 + 64 of 1514 bytes (\(96 * 1514 / 1024) KiB)")
  }

  /// Round trips of each kind through the daemon, nanoseconds.
  private struct Measured {
    var resident: [UInt64] = [], idle: [UInt64] = [], swappedOut: [UInt64] = []
    /// Swapped-out samples skipped because their VM was in memory after all.
    var notSwapped = 0
    /// Swap-ins during the swapped-out phase.
    var swapIns: UInt64 = 0
    /// Datagrams sent again after a second without their echo.
    var resends = 0
  }

  /// Starts the daemon, spawns the VMs, and measures each kind.
  private func measure(_ daemon: BenchmarkDaemon) throws -> Measured {
    let images = URL(fileURLWithPath: guests).standardizedFileURL.path
    try daemon.start(flags: [
      "--image-dir", images, "--network", "10.97.0.0/16", "--uplink", "tap dnbd0",
      "--memory-budget", "\(resident * 2)MiB", "--log-level", "notice", "--vm-processes", "\(vmProcesses)",
    ])
    try daemon.waitUntilReady(limit: .seconds(60))
    let client = daemon.client
    let pool = resident + 8
    let created: CreateVMsResponse
    do {
      created = try client.createVMs(
        CreateVMsBody(
          image: "udp-echo.elf", count: pool + 2, memory: "2MiB", arguments: ["quiet"], network: NetworkBody()))
    } catch {
      throw BenchmarkError("spawning the echo servers: \(error)")
    }
    let vms = created.vms.compactMap { vm in vm.address.map { (id: vm.id, address: $0) } }
    guard vms.count == pool + 2 else {
      throw BenchmarkError("the daemon created \(vms.count) of \(pool + 2) VMs with addresses")
    }
    try waitUntilListening(client, count: vms.count)
    var measured = Measured()
    // Resident: the first VM, back to back (after one round trip that brings it into memory).
    let residentVM = vms[0]
    _ = try roundTrip(to: residentVM.address, resends: &measured.resends)
    for _ in 0..<samples { measured.resident.append(try roundTrip(to: residentVM.address, resends: &measured.resends)) }
    // Idle: the second VM, each sample after it idled.
    let idleVM = vms[1]
    _ = try roundTrip(to: idleVM.address, resends: &measured.resends)
    for _ in 0..<samples {
      Thread.sleep(forTimeInterval: Double(idleMs) / 1000)
      measured.idle.append(try roundTrip(to: idleVM.address, resends: &measured.resends))
    }
    // Swapped out: the pool in turn; one turn first, so each VM's turn comes after the others filled the budget.
    let rotation = Array(vms[2...])
    for vm in rotation { _ = try roundTrip(to: vm.address, resends: &measured.resends) }
    let swapInsBefore = (try? client.statistics().swapInsTotal) ?? 0
    var index = 0
    while measured.swappedOut.count < samples && index < samples * 3 {
      let vm = rotation[index % rotation.count]
      index += 1
      guard (try? client.inspectVM(String(vm.id)).state) == .swappedOut else {
        measured.notSwapped += 1
        _ = try roundTrip(to: vm.address, resends: &measured.resends)
        continue
      }
      measured.swappedOut.append(try roundTrip(to: vm.address, resends: &measured.resends))
    }
    measured.swapIns = ((try? client.statistics().swapInsTotal) ?? swapInsBefore) - swapInsBefore
    guard measured.swappedOut.count == samples else {
      throw BenchmarkError(
        "only \(measured.swappedOut.count) of \(index) targets were swapped out: is the budget too large?")
    }
    return measured
  }

  /// Waits until `count` VMs have made their first hypercalls (each echo server has bound its port).
  private func waitUntilListening(_ client: ControlClient, count: Int) throws {
    let deadline = ContinuousClock.now + .seconds(120)
    while ContinuousClock.now < deadline {
      if let vms = try? client.listVMs(), vms.count == count, vms.allSatisfy({ $0.hypercalls >= 2 }) { return }
      Thread.sleep(forTimeInterval: 0.05)
    }
    throw BenchmarkError("the echo servers did not all start within 120 s")
  }

  /// One round trip to `address`, nanoseconds; counts resends.
  private func roundTrip(to address: String, resends: inout Int) throws -> UInt64 {
    let result = try UDPEchoClient(address: address, port: 7, size: size).run(count: 1)
    guard result.completed == 1 else { throw BenchmarkError("no echo from \(address) after 5 tries") }
    resends += result.resent
    return result.nanoseconds
  }

  /// `count` round trips, one at a time, to the C program tap-echo over a TAP device of its own.
  static func baselineSamples(program: String, count: Int, size: Int) throws -> [UInt64] {
    try TapEchoProgram.whileRunning(program, device: "dnbdbase", hostAddress: "10.98.0.1/24", echoAddress: "10.98.0.2")
    {
      let client = UDPEchoClient(address: "10.98.0.2", port: 7, size: size)
      _ = try client.run(count: 1)
      return try (0..<count).map { _ in
        let result = try client.run(count: 1)
        guard result.completed == 1 else { throw BenchmarkError("baseline: no echo from tap-echo") }
        return result.nanoseconds
      }
    }
  }

  /// Malloc bytes in use per port for `count` ports on one switch (the port object, its empty queues, counters and
  /// the switch's three address-table entries); per VM record, the bytes its address and saved counters add (as the
  /// engine keeps `count` records); and the bytes an address adds to a VM's journal line.
  static func networkBytesPerPort(count: Int) -> (portBytes: Int, recordBytes: Int, journalBytes: Int) {
    let fabric = VirtualSwitch(
      configuration: .init(subnet: IPv4Subnet(address: IPv4Address(10, 0, 0, 0), prefixLength: 8)))
    // One port first, so that the switch's own first allocations are not counted against the others.
    var made: [NetworkPort] = [(try? fabric.addPort(id: 1))].compactMap { $0 }
    made.reserveCapacity(count + 1)
    let before = Int(host_heap_in_use())
    for id in 2...UInt64(count + 1) { if let port = try? fabric.addPort(id: id) { made.append(port) } }
    let after = Int(host_heap_in_use())
    let reference = MemoryLayout<NetworkPort>.stride * count  // the array holding them here, not the switch
    let perPort = (after - before - reference) / max(1, made.count - 1)
    withExtendedLifetime(made) {}
    var record = VMRecord(
      id: 1, name: nil, imagePath: "/i/udp-echo.elf", imageKey: "0123456789abcdef-4096", memorySize: 2 << 20,
      diskSize: nil, arguments: [], createdAt: 1_700_000_000)
    let recordBytes = recordGrowth(of: record, count: count)
    // The journal stores a record as this JSON (sorted keys) inside its line.
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let without = (try? encoder.encode(record))?.count ?? 0
    record.address = IPv4Address(10, 97, 255, 254)
    let with = (try? encoder.encode(record))?.count ?? 0
    return (perPort, recordBytes, with - without)
  }

  /// Malloc bytes per record that `count` records with an address and saved network counters (each its own drop
  /// array, as after a stop) take beyond `count` records without.
  private static func recordGrowth(of plain: VMRecord, count: Int) -> Int {
    func heapOf(_ make: (Int) -> VMRecord) -> Int {
      let before = Int(host_heap_in_use())
      var records: [VMRecord] = []
      records.reserveCapacity(count)
      for index in 0..<count { records.append(make(index)) }
      let after = Int(host_heap_in_use())
      withExtendedLifetime(records) {}
      return after - before
    }
    let without = heapOf { _ in plain }
    let with = heapOf { index in
      var record = plain
      record.address = IPv4Address(value: 0x0A00_0000 | UInt32(index))
      var counters = NetworkCounters()
      counters[.receiveQueueFull] = UInt64(index)
      record.usage.network = counters
      return record
    }
    return (with - without) / max(1, count)
  }
}
