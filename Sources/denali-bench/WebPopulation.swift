// WebPopulation.swift: the httpd VMs of `denali-bench web`: grown through the API in batches to each N, every one
// with a NIC and the shared site image as its read-only disk, with a permanent neighbour entry on the host side.
import ControlAPI
import Foundation

/// The web-server VMs a `denali-bench web` run has created, in creation order (rank order for the load).
struct WebPopulation {
  /// The daemon they run in.
  let daemon: BenchmarkDaemon
  /// The uplink's TAP device (their neighbour entries are on it).
  let tap: String
  /// Guest memory per VM, MiB.
  let memoryMib: Int
  /// httpd's arguments.
  let arguments: [String]
  /// Their ids and addresses, in creation order.
  private(set) var ids: [UInt64] = []
  private(set) var addresses: [String] = []

  /// VMs per create request.
  static let batch = 500

  /// A population of none yet.
  init(daemon: BenchmarkDaemon, tap: String, memoryMib: Int, arguments: [String]) {
    self.daemon = daemon
    self.tap = tap
    self.memoryMib = memoryMib
    self.arguments = arguments
  }

  /// Creates VMs until there are `count`, then waits until none is waiting for admission, booting or running
  /// (each has booted, and idles or is swapped out); returns the seconds that took. Throws when the daemon
  /// refuses, when a VM ends, or after a limit of 10 minutes plus 100 ms per VM.
  mutating func grow(to count: Int) throws -> Double {
    let start = ContinuousClock.now
    let client = daemon.client
    while ids.count < count {
      let size = min(Self.batch, count - ids.count)
      let response: CreateVMsResponse
      do {
        response = try client.createVMs(
          CreateVMsBody(
            image: "httpd.elf", count: size, memory: "\(memoryMib)MiB", disk: DiskBody(image: "site.img"),
            arguments: arguments, network: NetworkBody()))
      } catch {
        throw BenchmarkError("spawning web servers \(ids.count + 1)-\(ids.count + size): \(error)")
      }
      if let stopped = response.stopped { throw BenchmarkError("the daemon stopped the batch: \(stopped.message)") }
      let made = response.vms.compactMap { vm in vm.address.map { (vm.id, $0) } }
      guard made.count == size else {
        throw BenchmarkError("the daemon created \(made.count) of \(size) VMs with addresses")
      }
      try addNeighbours(made.map(\.1))
      ids += made.map(\.0)
      addresses += made.map(\.1)
    }
    try waitUntilIdle(count: count, limit: .seconds(600 + count / 10))
    return (ContinuousClock.now - start).inSeconds
  }

  /// Permanent neighbour entries for `addresses` on the TAP (a VM's MAC is 02:00 and its address's four bytes), so
  /// the host never resolves them (and no neighbour-table limit counts them).
  private func addNeighbours(_ addresses: [String]) throws {
    let lines = addresses.map { address -> String in
      let bytes = address.split(separator: ".").compactMap { UInt8($0) }
      let mac = (["02", "00"] + bytes.map { String(format: "%02x", $0) }).joined(separator: ":")
      return "neigh replace \(address) lladdr \(mac) dev \(tap) nud permanent"
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["ip", "-batch", "-"]
    let input = Pipe()
    process.standardInput = input
    try process.run()
    input.fileHandleForWriting.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    try input.fileHandleForWriting.close()
    try waitForExit(process, limit: .seconds(120), what: "ip -batch (neighbour entries)")
    guard process.terminationStatus == 0 else { throw BenchmarkError("ip -batch failed adding neighbour entries") }
  }

  /// Waits until the daemon holds `count` VMs and none is waiting for admission, booting or running.
  private func waitUntilIdle(count: Int, limit: Duration) throws {
    let deadline = ContinuousClock.now + limit
    var last = ""
    while ContinuousClock.now < deadline {
      let statistics = try daemon.client.statistics()
      let states = statistics.vmsByState
      let ended = (states[.exited] ?? 0) + (states[.faulted] ?? 0) + (states[.killed] ?? 0)
      guard ended == 0 else {
        throw BenchmarkError("\(ended) web servers ended; the daemon's log:\n\(daemon.logTail(lines: 20))")
      }
      let busy = [VMStateKind.waitingForAdmission, .swappingIn, .runnable, .running].reduce(0) {
        $0 + (states[$1] ?? 0)
      }
      if statistics.vmsTotal == count && busy == 0 { return }
      last = states.map { "\($0.key.rawValue) \($0.value)" }.sorted().joined(separator: ", ")
      Thread.sleep(forTimeInterval: 0.5)
    }
    throw BenchmarkError("the web servers were not all booted and idle within \(limit): \(last)")
  }
}
