// SystemdUnitTests.swift: Config/denalid.service passes `systemd-analyze verify` and keeps its hardening.
// Addresses here are only configuration text (--unit-limits prints and exits): no switch, VM or packet exists.
import Foundation
import Testing

@Suite("systemd unit")
struct SystemdUnitTests {
  static let unit = ProcessRunner.root.appendingPathComponent("Config/denalid.service").path

  @Test("systemd-analyze verify accepts the unit (with ExecStart pointed at the built denalid)")
  func verify() throws {
    guard let analyze = ProcessRunner.which("systemd-analyze") else {
      if ProcessInfo.processInfo.environment["CI"] == "true" {
        Issue.record("systemd-analyze is missing (Debian package systemd; scripts/setup.sh installs it)")
      } else {
        print("skipping: systemd-analyze is missing (apt-get install systemd)")
      }
      return
    }
    guard let denalid = ProcessRunner.denalid() else { return }
    let directory = "/tmp/denali-unit-\(getpid())-\(Int.random(in: 0..<1_000_000))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    // verify checks that ExecStart's binary exists: point it at the one just built. It also runs `man` for each
    // man: page in Documentation=, which only an installed unit has (DebianPackageTests verifies that one).
    let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
      .replacingOccurrences(of: "/usr/local/bin/denalid", with: denalid)
      .replacingOccurrences(of: "man:denalid-serve(1) man:denalid(1) ", with: "")
    try text.write(toFile: directory + "/denalid.service", atomically: true, encoding: .utf8)
    let result = try ProcessRunner.run(analyze, ["verify", directory + "/denalid.service"])
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    #expect(result.stderr.isEmpty, "\(result.stderr)")
  }

  @Test("The unit keeps the hardening the issue asks for")
  func hardening() throws {
    let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
    for line in [
      "NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=denali", "RuntimeDirectory=denali",
      "DevicePolicy=closed", "DeviceAllow=/dev/kvm rw", "DeviceAllow=/dev/net/tun rw",
      "CapabilityBoundingSet=CAP_NET_ADMIN", "AmbientCapabilities=CAP_NET_ADMIN", "LimitNOFILE=1048576",
      "User=denali", "Group=denali", "MemoryDenyWriteExecute=yes", "IPAddressDeny=any",
    ] {
      #expect(text.contains("\n" + line + "\n"), "missing: \(line)")
    }
  }

  @Test("systemd-analyze security rates the unit at most 2.0, and its comments explain every exposure left")
  func exposure() throws {
    guard let analyze = ProcessRunner.which("systemd-analyze") else {
      print("skipping: systemd-analyze is missing (apt-get install systemd)")
      return
    }
    // --offline reads the file, whether or not systemd runs here (systemd 252 and later).
    let result = try ProcessRunner.run(analyze, ["security", "--offline=yes", "--no-pager", Self.unit])
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    guard let line = result.stdout.split(separator: "\n").first(where: { $0.contains("Overall exposure level") }),
      let score = line.split(separator: " ").compactMap({ Double($0) }).last
    else {
      Issue.record("no overall exposure in: \(result.stdout)\(result.stderr)")
      return
    }
    #expect(score <= 2.0, "\(line)")
    // Every setting still marked ✗ with a non-zero weight is named in the unit's comment on what is left.
    let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
    let explained = text.components(separatedBy: "# Exposure left").last ?? ""
    for row in result.stdout.split(separator: "\n") where row.hasPrefix("✗") {
      let setting = row.dropFirst(2).split(separator: " ").first.map(String.init) ?? ""
      #expect(explained.contains(setting), "the unit does not explain \(setting): \(row)")
    }
  }

  @Test("--unit-limits sizes MemoryMax and TasksMax from the configuration, and the unit holds the defaults' values")
  func unitLimits() throws {
    guard let denalid = ProcessRunner.denalid() else { return }
    let config = ProcessRunner.root.appendingPathComponent("Config/denalid.conf").path
    let defaults = try ProcessRunner.run(denalid, ["serve", "--config", config, "--socket-group", "", "--unit-limits"])
    #expect(defaults.status == 0, "\(defaults.stderr)")
    func value(_ key: String, in text: String) -> Int? {
      text.split(separator: "\n").first { $0.hasPrefix(key + "=") }.flatMap {
        Int($0.dropFirst(key.count + 1).filter(\.isNumber))
      }
    }
    let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
    // The unit's values: the defaults' (its TasksMax allows up to 128 cores; here fewer).
    #expect(value("MemoryMax", in: defaults.stdout) == value("MemoryMax", in: text), "\(defaults.stdout)")
    if let tasks = value("TasksMax", in: defaults.stdout), let unitTasks = value("TasksMax", in: text) {
      #expect(tasks <= unitTasks && tasks > 8192, "\(defaults.stdout)")
    } else {
      Issue.record("no TasksMax in \(defaults.stdout) or the unit")
    }
    // Twice the memory budget raises MemoryMax by the budget plus its resident VMs' overhead.
    let bigger = try ProcessRunner.run(
      denalid, ["serve", "--config", config, "--socket-group", "", "--memory-budget", "32GiB", "--unit-limits"])
    if let small = value("MemoryMax", in: defaults.stdout), let large = value("MemoryMax", in: bigger.stdout) {
      #expect(large - small == 16 * 1024 + (16384 - 8192) / 2, "\(bigger.stdout)")
    }
    // A network adds what the receive queues may hold together (receive-memory).
    let networked = try ProcessRunner.run(
      denalid,
      [
        "serve", "--config", config, "--socket-group", "", "--network", "10.0.0.0/16", "--receive-memory", "100MiB",
        "--unit-limits",
      ])
    if let plain = value("MemoryMax", in: defaults.stdout), let withNetwork = value("MemoryMax", in: networked.stdout) {
      #expect(withNetwork - plain == 100, "\(networked.stdout)")
    }
    // VM processes add their own runtime each, and the spawner's (16 MiB).
    let split = try ProcessRunner.run(
      denalid, ["serve", "--config", config, "--socket-group", "", "--vm-processes", "4", "--unit-limits"])
    if let plain = value("MemoryMax", in: defaults.stdout), let four = value("MemoryMax", in: split.stdout) {
      #expect(four - plain == 4 * 128 + 16, "\(split.stdout)")
    }
  }
}
