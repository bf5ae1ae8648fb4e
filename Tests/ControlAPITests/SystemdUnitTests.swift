// SystemdUnitTests.swift: Config/denalid.service passes `systemd-analyze verify` and keeps its hardening.
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
      "CapabilityBoundingSet=CAP_CHOWN CAP_NET_ADMIN CAP_SETPCAP", "LimitNOFILE=1048576",
    ] {
      #expect(text.contains("\n" + line + "\n"), "missing: \(line)")
    }
  }
}
