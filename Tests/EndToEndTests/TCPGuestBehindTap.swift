// TCPGuestBehindTap.swift: a TCP guest under `denalid run` in a network namespace of the test's own, reached from
// Linux through the TAP uplink, and the Linux-side peer (scripts/tcp-peer.py) run inside the same namespace.
import Foundation
import Testing

/// One guest behind TAP device `dtap0` in a fresh namespace: the host side is SUBNET.1, the guest SUBNET.2.
final class TCPGuestBehindTap {
  /// The namespace (deleted when this goes away).
  let namespace: NetworkNamespace
  /// The denalid process.
  let daemon: BackgroundProcess
  /// The /24 (three octets, e.g. "10.210.0").
  let subnet: String

  /// The guest's address.
  var guestAddress: String { "\(subnet).2" }
  /// The host's address on the TAP device.
  var hostAddress: String { "\(subnet).1" }

  /// The Linux-side peer script.
  static let peerScript = Denalid.root.appendingPathComponent("scripts/tcp-peer.py").path

  /// True when the machine can run these tests (KVM, the guests, root, namespaces, python3).
  static func ready(guests: [String]) -> Bool {
    Denalid.ready(guests: guests) && NetworkNamespace.available(tools: ["python3"])
  }

  /// Starts `guest` with `arguments` (after `--`) and `options` for denalid, and waits for the TAP device.
  init(guest: String, subnet: String, arguments: [String], options: [String] = [], timeout: String = "90s") throws {
    namespace = try NetworkNamespace()
    self.subnet = subnet
    daemon = try namespace.start(
      [Denalid.executable, "run", Denalid.guest(guest), "--tap", "dtap0", "--tap-address", "\(subnet).1/24", "--net-stats",
       "--timeout", timeout] + options + ["--"] + arguments)
    guard namespace.waitForInterface("dtap0") else { throw NamespaceError.command("the daemon's TAP device did not come up") }
  }

  /// Runs `tcp-peer.py` with `arguments` in the namespace; its status and output (the `ok ...` or `FAIL ...` line).
  func peer(_ arguments: [String], limit: Duration = .seconds(120)) throws -> (status: Int32, output: String) {
    try namespace.run(["/usr/bin/python3", Self.peerScript] + arguments, limit: limit)
  }

  /// Starts `tcp-peer.py` in the background (a listener for a guest client).
  func startPeer(_ arguments: [String]) throws -> BackgroundProcess {
    try namespace.start(["/usr/bin/python3", Self.peerScript] + arguments)
  }

  /// Runs a command in the namespace.
  func run(_ arguments: [String], input: String? = nil, limit: Duration = .seconds(60)) throws -> (status: Int32, output: String) {
    try NetworkNamespace.command(["ip", "netns", "exec", namespace.name] + arguments, input: input, limit: limit)
  }

  /// Waits for the guest to exit; its status, console (stdout) and denalid's report (stderr).
  func finish(limit: Duration = .seconds(120)) -> (status: Int32, stdout: String, stderr: String) {
    daemon.wait(limit: limit)
  }
}
