// TCPGuestBehindTap.swift: a TCP guest under `denalid run` in a network namespace of the test's own, reached from
// Linux through the TAP uplink, and the Linux-side peer (scripts/tcp-peer.py). Directly (the peer is the
// namespace's own stack on the TAP device), or over a lossy path: the peer in a second namespace behind a veth
// pair, with tcp-peer.py's relay forwarding frames between the veth and the TAP with loss, delay and reordering
// (this machine's kernel has no sch_netem, so `tc ... netem` is not available).
import Foundation
import Testing

/// Loss, delay and reordering of the lossy path, in both directions.
struct PathImpairment {
  /// Fraction of frames dropped.
  var loss = 0.05
  /// Delay of the others, in milliseconds.
  var delayMilliseconds = 5
  /// Fraction sent at once, overtaking the delayed ones.
  var reorder = 0.10
}

/// One guest behind TAP device `dtap0` in a fresh namespace. The TAP's host side is SUBNET.1, the guest SUBNET.2;
/// over a lossy path the Linux peer is SUBNET.254 in a second namespace.
final class TCPGuestBehindTap {
  /// The namespace of the daemon (deleted when this goes away).
  let namespace: NetworkNamespace
  /// The peer's namespace behind the lossy path (nil: the peer is `namespace` itself).
  let peerNamespace: NetworkNamespace?
  /// The denalid process.
  let daemon: BackgroundProcess
  /// The relay between the veth and the TAP (lossy path only).
  private(set) var relay: BackgroundProcess?
  /// The /24 (three octets, e.g. "10.210.0").
  let subnet: String

  /// The guest's address.
  var guestAddress: String { "\(subnet).2" }
  /// The Linux peer's address: the TAP's host side, or the far namespace over the lossy path.
  var peerAddress: String { Self.peerAddress(subnet: subnet, lossy: peerNamespace != nil) }

  /// The Linux peer's address for a subnet (known before the guest starts, for a guest client's `peer=`).
  static func peerAddress(subnet: String, lossy: Bool) -> String { lossy ? "\(subnet).254" : "\(subnet).1" }

  /// The Linux-side peer script.
  static let peerScript = Denalid.root.appendingPathComponent("scripts/tcp-peer.py").path

  /// True when the machine can run these tests (KVM, the guests, root, namespaces, python3; ethtool if lossy).
  static func ready(guests: [String], lossy: Bool = false) -> Bool {
    Denalid.ready(guests: guests) && NetworkNamespace.available(tools: ["python3"] + (lossy ? ["ethtool"] : []))
  }

  /// Starts `guest` with `arguments` (after `--`) and `options` for denalid, and waits for the TAP device; with
  /// `impairment`, also builds the lossy path and starts its relay.
  init(
    guest: String, subnet: String, arguments: [String], options: [String] = [], timeout: String = "90s",
    impairment: PathImpairment? = nil
  ) throws {
    namespace = try NetworkNamespace()
    self.subnet = subnet
    if impairment != nil {
      let far = try NetworkNamespace()
      peerNamespace = far
      for command in [
        [
          "ip", "-n", namespace.name, "link", "add", "vnear", "type", "veth", "peer", "name", "vfar", "netns", far.name,
        ],
        ["ip", "netns", "exec", namespace.name, "sysctl", "-qw", "net.ipv6.conf.vnear.disable_ipv6=1"],
        ["ip", "netns", "exec", far.name, "sysctl", "-qw", "net.ipv6.conf.vfar.disable_ipv6=1"],
        // The relay forwards frames as they are: the far side must put real checksums in them.
        ["ip", "netns", "exec", far.name, "ethtool", "-K", "vfar", "tx", "off"],
        ["ip", "-n", far.name, "addr", "add", "\(subnet).254/24", "dev", "vfar"],
        ["ip", "-n", far.name, "link", "set", "vfar", "up"],
        ["ip", "-n", namespace.name, "link", "set", "vnear", "up"],
      ] {
        let result = try NetworkNamespace.command(command)
        guard result.status == 0 else {
          throw NamespaceError.command("\(command.joined(separator: " ")): \(result.output)")
        }
      }
    } else {
      peerNamespace = nil
    }
    daemon = try namespace.start(
      [
        Denalid.executable, "run", Denalid.guest(guest), "--tap", "dtap0", "--tap-address", "\(subnet).1/24",
        "--net-stats",
        "--timeout", timeout,
      ] + options + ["--"] + arguments)
    guard namespace.waitForInterface("dtap0") else {
      throw NamespaceError.command("the daemon's TAP device did not come up")
    }
    if let impairment {
      relay = try namespace.start(
        [
          "/usr/bin/python3", Self.peerScript, "relay", "dtap0", "vnear", "\(impairment.loss)",
          "\(impairment.delayMilliseconds)",
          "\(impairment.reorder)", "600",
        ])
    }
  }

  /// The namespace the Linux peer runs in.
  private var peerSide: NetworkNamespace { peerNamespace ?? namespace }

  /// Runs `tcp-peer.py` with `arguments` on the peer's side; its status and output (the `ok ...` or `FAIL ...` line).
  func peer(_ arguments: [String], limit: Duration = .seconds(120)) throws -> (status: Int32, output: String) {
    try peerSide.run(["/usr/bin/python3", Self.peerScript] + arguments, limit: limit)
  }

  /// Starts `tcp-peer.py` in the background on the peer's side (a listener for a guest client).
  func startPeer(_ arguments: [String]) throws -> BackgroundProcess {
    try peerSide.start(["/usr/bin/python3", Self.peerScript] + arguments)
  }

  /// Runs a command on the peer's side.
  func run(_ arguments: [String], input: String? = nil, limit: Duration = .seconds(60)) throws -> (
    status: Int32, output: String
  ) {
    try NetworkNamespace.command(["ip", "netns", "exec", peerSide.name] + arguments, input: input, limit: limit)
  }

  /// Waits for the guest to exit; its status, console (stdout) and denalid's report (stderr). The relay, if any,
  /// ends with the TAP device; its summary line is appended to stderr.
  func finish(limit: Duration = .seconds(120)) -> (status: Int32, stdout: String, stderr: String) {
    let result = daemon.wait(limit: limit)
    guard let relay else { return result }
    let relayed = relay.wait(limit: .seconds(10))
    return (result.status, result.stdout, result.stderr + relayed.stdout + relayed.stderr)
  }
}
