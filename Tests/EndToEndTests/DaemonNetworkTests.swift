// DaemonNetworkTests.swift: network services through `denalid serve`: VMs spawned with --network answer a
// host-side client at their addresses through the TAP uplink, resident or swapped out (wake on packet), keep their
// addresses over SIGTERM and SIGKILL restarts, address refusals, vm-to-vm = deny, and a VM's port published with
// nftables DNAT. Every daemon with an uplink runs in a network namespace the test creates.
import Foundation
import Glibc
import Testing

@Suite("denalid serve: network services", .serialized)
struct DaemonNetworkTests {
  /// Every VM's address from `list --json`, by id.
  static func addresses(_ daemon: DaemonProcess) throws -> [Int: String] {
    var addresses: [Int: String] = [:]
    for vm in try daemon.vms() {
      if let id = vm["id"] as? Int, let address = vm["address"] as? String { addresses[id] = address }
    }
    return addresses
  }

  /// A payload naming the VM and the round (32 bytes, as udp-client sends).
  static func payload(_ id: Int, round: Int) -> [UInt8] {
    Array("vm \(id) round \(round)".utf8.prefix(32))
      + [UInt8](repeating: 0x2E, count: max(0, 32 - "vm \(id) round \(round)".utf8.count))
  }

  /// Echoes once off every address (in id order) from `client`; records an issue for each that never answers.
  /// Returns the round trips in nanoseconds by id, and the datagrams sent again.
  @discardableResult
  static func echoEvery(
    _ addresses: [Int: String], from client: NamespaceUDPSocket, round: Int,
    sourceLocation: SourceLocation = #_sourceLocation
  ) -> (roundTrips: [Int: UInt64], resends: Int) {
    var roundTrips: [Int: UInt64] = [:]
    var resends = 0
    for (id, address) in addresses.sorted(by: { $0.key < $1.key }) {
      guard let echo = client.echo(payload(id, round: round), to: address) else {
        Issue.record("round \(round): vm \(id) at \(address) never echoed", sourceLocation: sourceLocation)
        continue
      }
      roundTrips[id] = echo.nanoseconds
      resends += echo.sends - 1
    }
    return (roundTrips, resends)
  }

  /// The median of `values` (0 for none).
  static func median(_ values: some Collection<UInt64>) -> UInt64 {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
  }

  /// `nanoseconds` in milliseconds with two decimals.
  static func milliseconds(_ nanoseconds: UInt64) -> String { String(format: "%.2f ms", Double(nanoseconds) / 1e6) }

  /// A daemon in a new namespace with network `subnet` (a /16 such as 10.61.0.0/16) and uplink dtap0 at its
  /// first address, plus `flags`; started, its TAP device up.
  static func networkedDaemon(_ subnet: String, flags: [String] = []) throws -> (NetworkNamespace, DaemonProcess)? {
    let namespace = try NetworkNamespace()
    let daemon = try DaemonProcess(
      flags: ["--network", subnet, "--uplink", "tap dtap0"] + flags, namespace: namespace.name)
    try daemon.start()
    guard namespace.waitForInterface("dtap0") else {
      Issue.record("the daemon's TAP device did not come up: \(daemon.log)")
      return nil
    }
    return (namespace, daemon)
  }

  @Test(
    "100 udp-echo VMs spawned with --network echo a host client at their addresses, before and after SIGTERM and SIGKILL restarts"
  )
  func hundredServersAcrossRestarts() throws {
    guard Denalid.ready(guests: ["udp-echo"]), NetworkNamespace.available(),
      let (namespace, daemon) = try Self.networkedDaemon("10.61.0.0/16")
    else { return }
    let spawn = try daemon.client([
      "spawn", "udp-echo.elf", "--network", "--count", "100", "--memory", "2MiB", "--", "quiet",
    ])
    #expect(spawn.status == 0, "\(spawn.stderr)")
    let addresses = try Self.addresses(daemon)
    #expect(addresses.count == 100 && Set(addresses.values).count == 100, "\(addresses)")
    #expect(addresses.values.allSatisfy { $0.hasPrefix("10.61.") && $0 != "10.61.0.1" }, "the gateway is never a VM's")
    try daemon.waitForVMs("every echo server to wait for datagrams") { vms in
      vms.count == 100 && vms.allSatisfy { $0["state"] as? String == "idle" }
    }
    let client = try NamespaceUDPSocket(namespace: namespace.name)
    let first = Self.echoEvery(addresses, from: client, round: 1)
    #expect(first.roundTrips.count == 100)

    #expect(daemon.terminate() == 0)
    try daemon.start()
    #expect(try Self.addresses(daemon) == addresses, "a clean restart keeps every address")
    let second = Self.echoEvery(addresses, from: client, round: 2)
    #expect(second.roundTrips.count == 100)

    daemon.kill()
    try daemon.start()
    #expect(daemon.log.contains("restarting 100 VMs after a crash"), "\(daemon.log)")
    #expect(try Self.addresses(daemon) == addresses, "a restart after SIGKILL keeps every address")
    let third = Self.echoEvery(addresses, from: client, round: 3)
    #expect(third.roundTrips.count == 100)
    print(
      "100 echo servers: median round trip \(Self.milliseconds(Self.median(first.roundTrips.values))) (first), "
        + "\(Self.milliseconds(Self.median(second.roundTrips.values))) after SIGTERM + restart (swapped in on the packet), "
        + "\(Self.milliseconds(Self.median(third.roundTrips.values))) after SIGKILL + restart; resends \(first.resends), \(second.resends), \(third.resends)"
    )

    // The NIC's counters: the rounds of the first and last runs at least (the crashed run's are lost with it).
    let info = try daemon.inspect("50")
    let network = try #require(info["network"] as? [String: Any], "\(info)")
    #expect(info["address"] as? String == addresses[50])
    #expect((network["packets_in"] as? Int ?? 0) >= 2 && (network["packets_out"] as? Int ?? 0) >= 2, "\(network)")
    #expect(network["attached"] as? Bool == true && network["mac"] as? String != nil)
    let metrics = try daemon.client(["stats", "--json"])
    #expect(metrics.stdout.contains(#""addresses_in_use":100"#), "\(metrics.stdout)")
    #expect(daemon.terminate() == 0)
  }

  @Test("with a memory budget for 10 of 100 VMs every echo still comes back: a packet wakes and swaps in its VM")
  func wakeOnPacketSwapsIn() throws {
    guard Denalid.ready(guests: ["udp-echo"]), NetworkNamespace.available(),
      let (namespace, daemon) = try Self.networkedDaemon(
        "10.62.0.0/16", flags: ["--memory-budget", "20MiB", "--receive-queue", "32"])
    else { return }
    let spawn = try daemon.client([
      "spawn", "udp-echo.elf", "--network", "--count", "100", "--memory", "2MiB", "--", "quiet",
    ])
    #expect(spawn.status == 0, "\(spawn.stderr)")
    let addresses = try Self.addresses(daemon)
    let vms = try daemon.waitForVMs("every echo server to boot and wait, most of them swapped out") { vms in
      vms.count == 100 && vms.allSatisfy { ($0["hypercalls"] as? Int ?? 0) >= 2 }
        && vms.filter { $0["state"] as? String == "swapped_out" }.count >= 80
    }
    let swappedOut = Set(vms.filter { $0["state"] as? String == "swapped_out" }.compactMap { $0["id"] as? Int })
    let swapInsBefore = try Self.swapIns(daemon)
    let client = try NamespaceUDPSocket(namespace: namespace.name)
    let round = Self.echoEvery(addresses, from: client, round: 1)
    #expect(round.roundTrips.count == 100, "every echo came back")
    let swapIns = try Self.swapIns(daemon) - swapInsBefore
    #expect(swapIns >= swappedOut.count, "each swapped-out VM was swapped in by its packet: \(swapIns) swap-ins")
    #expect(try Self.addresses(daemon) == addresses, "swap-outs and swap-ins keep every address")

    // Beside a resident VM: the one just echoed, 20 times back to back.
    let last = try #require(addresses.keys.max())
    var resident: [UInt64] = []
    for index in 0..<20 {
      if let echo = client.echo(Self.payload(last, round: 100 + index), to: addresses[last] ?? "") {
        resident.append(echo.nanoseconds)
      }
    }
    #expect(resident.count == 20)
    let swappedTrips = round.roundTrips.filter { swappedOut.contains($0.key) }.map(\.value)
    print(
      "round trip to a swapped-out VM (wake on packet + swap-in): median \(Self.milliseconds(Self.median(swappedTrips))) "
        + "over \(swappedTrips.count) VMs; to a resident VM: median \(Self.milliseconds(Self.median(resident))) over 20; "
        + "\(swapIns) swap-ins, \(round.resends) resends")

    // A flood at a swapped-out VM is held to its receive queue's bound (receive-queue = 32 here); the rest is
    // dropped and counted.
    let target = try #require(try daemon.vms().first { $0["state"] as? String == "swapped_out" }?["id"] as? Int)
    let targetAddress = try #require(addresses[target])
    let burst = 2000
    for index in 0..<burst { _ = client.send(Self.payload(target, round: 1000 + index), to: targetAddress) }
    let afterFlood = try Self.network(of: target, in: daemon)
    #expect((afterFlood["queued_frames"] as? Int ?? 0) <= 32, "\(afterFlood)")
    try daemon.waitForVMs("the flood to be counted and the queue drained") { _ in
      let network = (try? Self.network(of: target, in: daemon)) ?? [:]
      let dropped = (network["drops"] as? [String: Int])?["receive-queue-full"] ?? 0
      return dropped > 0 && (network["queued_frames"] as? Int ?? 1) == 0
    }
    let network = try Self.network(of: target, in: daemon)
    let received = network["packets_in"] as? Int ?? 0
    let dropped = (network["drops"] as? [String: Int])?["receive-queue-full"] ?? 0
    #expect(received + dropped <= burst + 2 && received < burst, "\(network)")
    #expect(client.echo(Self.payload(target, round: 9999), to: targetAddress) != nil, "the flooded VM still echoes")
    print(
      "a burst of \(burst) datagrams at a swapped-out VM: \(received) received, \(dropped) dropped (receive queue full)"
    )
    #expect(daemon.terminate() == 0)
  }

  /// `swap_ins_total` from `stats --json`.
  static func swapIns(_ daemon: DaemonProcess) throws -> Int {
    let stats = try daemon.client(["stats", "--json"])
    let object = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
    return object?["swap_ins_total"] as? Int ?? 0
  }

  /// The `network` object of `stats --json`.
  static func networkStatistics(_ daemon: DaemonProcess) throws -> [String: Any] {
    let stats = try daemon.client(["stats", "--json"])
    let object = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
    return object?["network"] as? [String: Any] ?? [:]
  }

  /// The `network` object of VM `id`.
  static func network(of id: Int, in daemon: DaemonProcess) throws -> [String: Any] {
    try daemon.inspect(String(id))["network"] as? [String: Any] ?? [:]
  }

  @Test(
    "kill frees an address at once; a full subnet, a taken address, the gateway's and one outside are refused, changing nothing"
  )
  func addressRefusals() throws {
    guard Denalid.ready(guests: ["udp-echo"]), NetworkNamespace.available(),
      let (_, daemon) = try Self.networkedDaemon("10.63.0.0/29", flags: ["--memory-budget", "4MiB"])
    else { return }
    // 10.63.0.0/29: hosts .1 to .6, .1 the gateway: room for five VMs (and memory for two).
    let five = try daemon.client([
      "spawn", "udp-echo.elf", "--network", "--count", "5", "--memory", "2MiB", "--name", "s", "--", "quiet",
    ])
    #expect(five.status == 0, "\(five.stderr)")
    #expect(try Self.addresses(daemon).values.sorted() == (2...6).map { "10.63.0.\($0)" })
    let booted = try daemon.waitForVMs("the five to boot, at least three of them swapped out and one idle in memory") {
      vms in
      vms.allSatisfy { ($0["hypercalls"] as? Int ?? 0) >= 2 }
        && vms.filter { $0["state"] as? String == "swapped_out" }.count >= 3
        && vms.contains { $0["state"] as? String == "idle" }
    }
    let refusals: [([String], String)] = [
      (
        ["--network"],
        "no free address left in 10.63.0.0/29 (network): every address is held by a live VM (HTTP 409, limit_reached)"
      ),
      (["--address", "10.63.0.4"], "address 10.63.0.4 is already in use by vm 3 (HTTP 409, conflict)"),
      (
        ["--address", "10.63.0.1"],
        "address 10.63.0.1 is the uplink's (uplink-address): the VMs' gateway, never a VM's (HTTP 422, unprocessable)"
      ),
      (
        ["--address", "10.63.0.9"],
        "address 10.63.0.9 is outside this daemon's network 10.63.0.0/29 (network) (HTTP 422, unprocessable)"
      ),
      (
        ["--address", "10.63.0.7"],
        "address 10.63.0.7 is the broadcast address of 10.63.0.0/29 (network): not a host address (HTTP 422, unprocessable)"
      ),
      (["--address", "10.63.0.256"], "network.address '10.63.0.256' is not an IPv4 address (HTTP 422, unprocessable)"),
    ]
    for (flags, message) in refusals {
      let refused = try daemon.client(["spawn", "udp-echo.elf", "--memory", "2MiB"] + flags)
      #expect(refused.status == 1, "\(flags): \(refused.stdout)")
      #expect(refused.stderr == "denalid: \(message)\n", "\(flags)")
    }
    #expect(try daemon.vms().count == 5, "no refused request created anything")
    // Kill frees the address for the next request, at once: a resident VM's, and a swapped-out one's (which ends
    // inside the kill, without being swapped in).
    let residentVM = try #require(booted.first { $0["state"] as? String == "idle" })
    let swappedVM = try #require(booted.first { $0["state"] as? String == "swapped_out" })
    for (index, victim) in [residentVM, swappedVM].enumerated() {
      let name = try #require(victim["name"] as? String)
      let address = try #require(victim["address"] as? String)
      #expect(try daemon.client(["kill", name]).status == 0)
      #expect(
        try Self.networkStatistics(daemon)["addresses_in_use"] as? Int == 4,
        "\(victim["state"] ?? ""): freed when kill answered")
      let again = try daemon.client([
        "spawn", "udp-echo.elf", "--address", address, "--memory", "2MiB", "--name", "again-\(index)", "--json",
      ])
      #expect(again.status == 0, "\(victim["state"] ?? ""): \(again.stderr)")
      #expect(again.stdout.contains(#""address":"\#(address)""#), "\(again.stdout)")
      let killed = try daemon.inspect(name)
      #expect(killed["address"] as? String == address, "a finished VM still shows the address it had")
      #expect((killed["network"] as? [String: Any])?["attached"] as? Bool == false)
    }
    #expect(daemon.terminate() == 0)

    // A daemon without a network refuses --network, naming the key to set.
    let plain = try DaemonProcess()
    try plain.start()
    let refused = try plain.client(["spawn", "udp-echo.elf", "--network"])
    #expect(refused.status == 1)
    #expect(refused.stderr.contains("this daemon has no virtual network: set `network = SUBNET`"), "\(refused.stderr)")
    #expect(refused.stderr.contains("(HTTP 422, unprocessable)"), "\(refused.stderr)")
    #expect(plain.terminate() == 0)
  }

  @Test(
    "a restart with another network runs VMs without their NIC, keeping their addresses for the old network's return")
  func restartWithChangedNetwork() throws {
    guard Denalid.ready(guests: ["udp-echo"]) else { return }
    // No uplink: no TAP device, so no namespace is needed.
    let first = try DaemonProcess(flags: ["--network", "10.66.0.0/24"])
    try first.start()
    #expect(
      try first.client(["spawn", "udp-echo.elf", "--network", "--count", "2", "--memory", "2MiB", "--", "quiet"]).status
        == 0)
    #expect(try Self.addresses(first) == [1: "10.66.0.1", 2: "10.66.0.2"])
    #expect(first.terminate() == 0)

    let moved = try DaemonProcess(flags: ["--network", "10.67.0.0/24"], sharing: first)
    try moved.start()
    #expect(
      moved.log.contains(
        "vm 1 restarts without its NIC: its address cannot be given back: address 10.66.0.1 is outside 10.67.0.0/24"),
      "\(moved.log)")
    let detached = try moved.inspect("1")
    #expect(detached["address"] as? String == "10.66.0.1" && detached["state"] as? String != "faulted", "\(detached)")
    #expect((detached["network"] as? [String: Any])?["attached"] as? Bool == false)
    let added = try moved.client(["spawn", "udp-echo.elf", "--network", "--memory", "2MiB", "--json", "--", "quiet"])
    #expect(added.stdout.contains(#""address":"10.67.0.1""#), "\(added.stdout)")
    #expect(moved.terminate() == 0)

    let back = try DaemonProcess(flags: ["--network", "10.66.0.0/24"], sharing: first)
    try back.start()
    #expect(try Self.addresses(back) == [1: "10.66.0.1", 2: "10.66.0.2", 3: "10.67.0.1"])
    for id in ["1", "2"] {
      #expect(
        (try back.inspect(id)["network"] as? [String: Any])?["attached"] as? Bool == true, "vm \(id) has its NIC again")
    }
    #expect(back.log.contains("vm 3 restarts without its NIC"), "\(back.log)")
    #expect(back.terminate() == 0)
  }

  @Test(
    "a network over 3 VM processes: every VM answers the host through the daemon's hub, addresses are unique and name their process, a VM cannot reach another process's VM under deny (counted on its NIC), and the count is fixed for the state directory"
  )
  func networkAcrossVMProcesses() throws {
    guard Denalid.ready(guests: ["udp-echo", "udp-client"]), NetworkNamespace.available(),
      let (namespace, daemon) = try Self.networkedDaemon("10.66.0.0/24", flags: ["--vm-processes", "3"])
    else { return }
    let spawn = try daemon.client([
      "spawn", "udp-echo.elf", "--network", "--count", "9", "--memory", "2MiB", "--", "quiet",
    ])
    #expect(spawn.status == 0, "\(spawn.stderr)")
    let vms = try daemon.vms()
    let addresses = try Self.addresses(daemon)
    #expect(addresses.count == 9 && Set(addresses.values).count == 9, "\(addresses)")
    // Each process gives out its own part: host address offset (from .1) modulo 3 is the process's number.
    for (id, address) in addresses {
      let offset = (Int(address.split(separator: ".").last ?? "") ?? 0) - 1
      #expect(offset % 3 == id / 1_000_000_000_000, "vm \(id) at \(address)")
    }
    #expect(Set(vms.compactMap { $0["id"] as? Int }.map { $0 / 1_000_000_000_000 }) == [0, 1, 2])
    let client = try NamespaceUDPSocket(namespace: namespace.name)
    Self.echoEvery(addresses, from: client, round: 1)
    // An address asked for is given by the process owning it: .12 is host offset 11, process 2's.
    #expect(
      try daemon.client([
        "spawn", "udp-echo.elf", "--address", "10.66.0.12", "--name", "asked", "--memory", "2MiB", "--", "quiet",
      ]).status == 0)
    let asked = try daemon.inspect("asked")
    #expect((asked["id"] as? Int ?? 0) / 1_000_000_000_000 == 2, "\(asked)")
    Self.echoEvery([asked["id"] as? Int ?? 0: "10.66.0.12"], from: client, round: 1)
    let network = try Self.networkStatistics(daemon)
    #expect(network["addresses_in_use"] as? Int == 10, "\(network)")
    #expect((network["uplink_packets_in"] as? Int ?? 0) >= 10, "the hub's uplink figures: \(network)")
    // vm-to-vm = deny (the default): a VM cannot reach a VM of another process; the drop is counted on its NIC.
    guard let (victimID, victim) = addresses.first(where: { $0.key / 1_000_000_000_000 == 1 }) else {
      Issue.record("no VM in process 1: \(addresses)")
      return
    }
    let toVM = ["peer=\(victim)", "count=2", "timeout-ms=300", "tries=2"]
    #expect(
      try daemon.client(["spawn", "udp-client.elf", "--network", "--name", "across", "--memory", "2MiB", "--"] + toVM)
        .status == 0)
    try daemon.waitForVMs("the client to finish") { vms in
      vms.first { $0["name"] as? String == "across" }?["state"] as? String == "exited"
    }
    #expect(try daemon.inspect("across")["exit_status"] as? Int == 1, "no echo came from the other process's VM")
    let across = try #require(try daemon.inspect("across")["network"] as? [String: Any])
    #expect(((across["drops"] as? [String: Int])?["vm-to-vm-denied"] ?? 0) >= 1, "\(across)")
    let victimNIC = try #require(try daemon.inspect(String(victimID))["network"] as? [String: Any])
    #expect(victimNIC["packets_in"] as? Int == 1, "only the host's echo reached it: \(victimNIC)")
    // A VM process that dies is started again with a new trunk to the hub: its VMs answer at their addresses.
    guard let doomed = VMProcessTests.vmProcess(1, of: daemon.pid ?? 0) else {
      Issue.record("no VM process 1")
      return
    }
    Glibc.kill(doomed, SIGKILL)
    try daemon.waitForVMs("VM process 1 back") { vms in
      guard let health = try? daemon.health(), health["status"] as? String == "ok" else { return false }
      return vms.filter { ($0["id"] as? Int ?? 0) / 1_000_000_000_000 == 1 }.allSatisfy { $0["restarts"] as? Int == 1 }
    }
    #expect(try Self.addresses(daemon).filter { addresses[$0.key] != nil } == addresses, "every VM at its address")
    Self.echoEvery(addresses, from: client, round: 3)
    #expect(daemon.terminate() == 0)
    // The count is kept for the state directory: its VMs' addresses were split for 3 processes.
    let four = try DaemonProcess(
      flags: ["--network", "10.66.0.0/24", "--uplink", "tap dtap0", "--vm-processes", "4"], sharing: daemon)
    let refused = try namespace.run([Denalid.executable] + four.serveArguments, limit: .seconds(60))
    #expect(refused.status != 0 && refused.output.contains("vm-processes = 3"), "\(refused.output)")
    // With the same count every VM comes back at its address in its process, and answers.
    try daemon.start()
    let servers = addresses.merging([asked["id"] as? Int ?? 0: "10.66.0.12"]) { $1 }
    #expect(try Self.addresses(daemon).filter { servers[$0.key] != nil } == servers)
    Self.echoEvery(servers, from: client, round: 2)
    #expect(daemon.terminate() == 0)
  }

  @Test("vm-to-vm = allow over 2 VM processes: a VM reaches a VM of the other process through the daemon's hub")
  func vmToVMAcrossVMProcesses() throws {
    guard Denalid.ready(guests: ["udp-echo", "udp-client"]), NetworkNamespace.available(),
      let (_, daemon) = try Self.networkedDaemon(
        "10.67.0.0/24", flags: ["--vm-processes", "2", "--vm-to-vm", "allow"])
    else { return }
    #expect(
      try daemon.client(["spawn", "udp-echo.elf", "--network", "--count", "2", "--memory", "2MiB", "--", "quiet"])
        .status == 0)
    let addresses = try Self.addresses(daemon)
    guard let (_, target) = addresses.first(where: { $0.key / 1_000_000_000_000 == 1 }) else {
      Issue.record("no VM in process 1: \(addresses)")
      return
    }
    let arguments = ["peer=\(target)", "count=3", "timeout-ms=500", "tries=4"]
    #expect(
      try daemon.client(
        ["spawn", "udp-client.elf", "--network", "--name", "across", "--memory", "2MiB", "--"] + arguments
      )
      .status == 0)
    try daemon.waitForVMs("the client to finish") { vms in
      vms.first { $0["name"] as? String == "across" }?["state"] as? String == "exited"
    }
    let client = try daemon.inspect("across")
    #expect((client["id"] as? Int ?? 0) / 1_000_000_000_000 == 0, "the client runs in process 0: \(client)")
    let log = try daemon.client(["logs", "across"]).stdout
    #expect(client["exit_status"] as? Int == 0, "\(log)")
    #expect(log.contains("3/3 echoes from \(target)"), "\(log)")
    #expect(daemon.terminate() == 0)
  }

  @Test("vm-to-vm = deny: a udp-client VM cannot reach another VM (dropped and counted), and reaches a host peer")
  func vmToVMDenied() throws {
    guard Denalid.ready(guests: ["udp-echo", "udp-client"]), NetworkNamespace.available(),
      let (namespace, daemon) = try Self.networkedDaemon("10.64.0.0/24")
    else { return }
    // A host peer: an echo server on the uplink's address, in the namespace.
    let server = try NamespaceUDPSocket(namespace: namespace.name, bindTo: "10.64.0.1", port: 7)
    let stop = ResultBox(false)
    let served = ResultBox(0)
    let serverDone = DispatchSemaphore(value: 0)
    Thread {
      served.set(server.serveEcho { stop.get() })
      serverDone.signal()
    }.start()
    defer {
      stop.set(true)
      serverDone.wait()
    }
    #expect(
      try daemon.client([
        "spawn", "udp-echo.elf", "--address", "10.64.0.5", "--name", "victim", "--memory", "2MiB", "--", "quiet",
      ]).status == 0)
    let toVM = ["peer=10.64.0.5", "count=3", "timeout-ms=300", "tries=3"]
    #expect(
      try daemon.client(["spawn", "udp-client.elf", "--network", "--name", "to-vm", "--memory", "2MiB", "--"] + toVM)
        .status == 0)
    #expect(
      try daemon.client([
        "spawn", "udp-client.elf", "--network", "--name", "to-host", "--memory", "2MiB", "--", "peer=10.64.0.1",
        "count=3",
      ]).status == 0)
    try daemon.waitForVMs("both clients to finish") { vms in
      vms.filter { ($0["name"] as? String ?? "").hasPrefix("to-") }.allSatisfy { $0["state"] as? String == "exited" }
    }
    #expect(try daemon.inspect("to-vm")["exit_status"] as? Int == 1, "no echo came from the other VM")
    #expect(try daemon.inspect("to-host")["exit_status"] as? Int == 0, "every echo came from the host peer")
    #expect(try daemon.client(["logs", "to-host"]).stdout.contains("udp-client: 3/3 echoes from 10.64.0.1 port 7"))
    let denied = try #require(try daemon.inspect("to-vm")["network"] as? [String: Any])
    #expect(((denied["drops"] as? [String: Int])?["vm-to-vm-denied"] ?? 0) >= 1, "\(denied)")
    let victim = try #require(try daemon.inspect("victim")["network"] as? [String: Any])
    #expect(victim["packets_in"] as? Int == 0, "the other VM received nothing: \(victim)")
    let metrics = try DaemonNetworkTests.metrics(daemon)
    #expect(metrics.contains(#"name="to-vm",address="10.64.0.2",reason="vm-to-vm-denied"}"#), "\(metrics)")
    #expect(daemon.terminate() == 0)
  }

  /// `GET /v1/metrics` through curl on the daemon's socket.
  static func metrics(_ daemon: DaemonProcess) throws -> String {
    try NetworkNamespace.command(["curl", "-s", "--unix-socket", daemon.socket, "http://localhost/v1/metrics"]).output
  }

  @Test("a VM's UDP port published to another network with nftables DNAT, exactly as Docs/NETWORK.md shows")
  func publishedWithNftables() throws {
    guard Denalid.ready(guests: ["udp-echo"]), NetworkNamespace.available(tools: ["nft", "socat"]),
      let (host, daemon) = try Self.networkedDaemon("10.65.0.0/24")
    else { return }
    // "Outside": another namespace joined to the host's by a veth pair (the host's eth0 in the documentation).
    let outside = try NetworkNamespace()
    let setup = [
      ["ip", "link", "add", "eth0", "netns", host.name, "type", "veth", "peer", "name", "eth0", "netns", outside.name],
      ["ip", "-n", host.name, "addr", "add", "192.168.65.1/24", "dev", "eth0"],
      ["ip", "-n", host.name, "link", "set", "eth0", "up"],
      ["ip", "-n", outside.name, "addr", "add", "192.168.65.2/24", "dev", "eth0"],
      ["ip", "-n", outside.name, "link", "set", "eth0", "up"],
    ]
    for command in setup {
      let result = try NetworkNamespace.command(command)
      #expect(result.status == 0, "\(command): \(result.output)")
    }
    #expect(
      try daemon.client(["spawn", "udp-echo.elf", "--address", "10.65.0.5", "--memory", "2MiB", "--", "quiet"]).status
        == 0)
    // The commands of Docs/NETWORK.md, "Publishing a VM's port", run in the host's namespace.
    for command in Self.publishingCommands {
      let result = try host.run(command)
      #expect(result.status == 0, "\(command): \(result.output)")
    }
    let reply = try NetworkNamespace.command(
      ["ip", "netns", "exec", outside.name, "socat", "-T", "5", "-t", "3", "-", "UDP:192.168.65.1:8007"],
      input: "published\n")
    #expect(reply.status == 0 && reply.output == "published\n", "the outside got \(reply.output.debugDescription)")
    let info = try daemon.inspect("1")
    #expect(((info["network"] as? [String: Any])?["packets_in"] as? Int ?? 0) >= 1, "\(info)")
    #expect(daemon.terminate() == 0)
  }

  /// Docs/NETWORK.md's commands for publishing UDP port 7 of the VM at 10.65.0.5 as port 8007 of the host's eth0
  /// (the documentation's VM is 10.0.5.5 on 10.0.0.0/16; the test's network is 10.65.0.0/24).
  static let publishingCommands: [[String]] = [
    ["sysctl", "-w", "net.ipv4.ip_forward=1"],
    ["nft", "add", "table", "ip", "denali"],
    ["nft", "add chain ip denali prerouting { type nat hook prerouting priority dstnat; }"],
    [
      "nft", "add", "rule", "ip", "denali", "prerouting", "iifname", "eth0", "udp", "dport", "8007", "dnat", "to",
      "10.65.0.5:7",
    ],
    ["nft", "add chain ip denali forward { type filter hook forward priority filter; }"],
    ["nft", "add", "rule", "ip", "denali", "forward", "iifname", "dtap0", "oifname", "dtap0", "drop"],
  ]
}
