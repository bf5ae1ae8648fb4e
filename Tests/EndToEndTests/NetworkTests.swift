// NetworkTests.swift: the virtual network end to end: ping and UDP echo from a private network namespace
// through the TAP uplink, VM-to-VM UDP across 1,000 pairs, spoofing counted, and a flooder's effect on echo.
import Foundation
import Testing

@Suite("virtual network")
struct NetworkTests {
  /// A /24 no other test uses at the same time (the namespace is private anyway; distinct subnets read better).
  static func subnet(_ third: Int) -> String { "10.\(200 + third).0" }

  @Test("ping from the test's namespace reaches a pong guest through the TAP uplink")
  func ping() throws {
    guard Denalid.ready(guests: ["pong"]), NetworkNamespace.available(tools: ["ping"]) else { return }
    let namespace = try NetworkNamespace()
    let net = Self.subnet(1)
    let daemon = try namespace.start([
      Denalid.executable, "run", Denalid.guest("pong"), "--network", "\(net).0/24", "--tap", "dtap0", "--net-stats",
      "--timeout", "30s", "--", "count=3",
    ])
    #expect(namespace.waitForInterface("dtap0"), "the daemon's TAP device came up")
    let ping = try namespace.run(["ping", "-c", "3", "-i", "0.2", "-W", "5", "\(net).2"])
    let result = daemon.wait()
    #expect(ping.status == 0 && ping.output.contains("3 received"), "\(ping.output)")
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    #expect(result.stdout.contains("pong: answered 3"), "\(result.stdout)")
    #expect(result.stderr.contains("vm 1 \(net).2 02:00:0a:c9:00:02: in 3 packets"), "\(result.stderr)")
    #expect(result.stderr.contains("ARP answered"), "\(result.stderr)")
  }

  @Test("UDP echo through the TAP uplink with socat, three datagrams each coming back unchanged")
  func udpEchoWithSocat() throws {
    guard Denalid.ready(guests: ["udp-echo"]), NetworkNamespace.available(tools: ["socat"]) else { return }
    let namespace = try NetworkNamespace()
    let net = Self.subnet(2)
    let daemon = try namespace.start([
      Denalid.executable, "run", Denalid.guest("udp-echo"), "--tap", "dtap0", "--tap-address", "\(net).1/24",
      "--net-stats", "--timeout", "30s", "--", "count=3",
    ])
    #expect(namespace.waitForInterface("dtap0"))
    for message in ["first datagram", "second, a little longer datagram", "third"] {
      let echo = try NetworkNamespace.command(
        ["ip", "netns", "exec", namespace.name, "socat", "-T", "5", "-t", "1.5", "-", "UDP:\(net).2:7"],
        input: message + "\n")
      #expect(
        echo.status == 0 && echo.output == message + "\n", "socat got \(echo.output.debugDescription) for \(message)")
    }
    let result = daemon.wait()
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    #expect(result.stdout.contains("udp-echo: echoed 3 datagrams"), "\(result.stdout)")
    #expect(result.stderr.contains("in 3 packets") && result.stderr.contains("out 3 packets"), "\(result.stderr)")
  }

  @Test("VM-to-VM UDP works across 1,000 pairs: every client gets its echoes from its own server")
  func thousandPairs() throws {
    guard Denalid.ready(guests: ["udp-echo", "udp-client"]) else { return }
    let result = try Denalid.run(
      [
        "run", Denalid.guest("udp-echo") + ":1000", Denalid.guest("udp-client") + ":1000", "--network", "10.0.0.0/16",
        "--memory", "2MiB", "--quiet", "--timeout", "150s",
        "--", "peer=-1000", "count=2", "timeout-ms=10000", "linger-ms=2000", "quiet",
      ], limit: .seconds(180))
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stderr.contains("2000 VMs: 2000 exited 0"), "\(result.stderr)")
    // 1,000 servers receive 2 and send 2; 1,000 clients also receive the switch's ARP answer. Under load a
    // client may resend (a period of 10 s without its echo: 118 resends were seen in a loaded fresh-clone
    // run), so more; every client still exits 0 only with its own echoes, and nothing is ever dropped.
    let received = Self.number(after: "2000 NICs: in ", in: result.stderr) ?? 0
    let arp = Self.number(after: "ARP answered ", in: result.stderr) ?? 0
    #expect(received >= 5000 && received < 7000, "\(result.stderr)")
    #expect(arp >= 1000 && arp < 2000, "\(result.stderr)")
    // "dropped 0" ends the line, or is followed by frames still queued when the last VM ended (a loaded host).
    #expect(
      result.stderr.contains("2000 NICs: in \(received) packets")
        && (result.stderr.contains("dropped 0\n") || result.stderr.contains("dropped 0, ")), "\(result.stderr)")
    print("1,000 pairs: \(result.elapsed); \(result.stderr)")
  }

  @Test("a guest sending as another VM (MAC, IPv4 address, ARP) is dropped and counted; the victim gets nothing")
  func spoofingCounted() throws {
    guard Denalid.ready(guests: ["evil", "hello"]) else { return }
    let result = try Denalid.run([
      "run", Denalid.guest("evil"), Denalid.guest("hello"), "--network", "10.0.0.0/24", "--net-stats", "--",
      "net-spoof",
    ])
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    #expect(result.stdout.contains("evil: net-spoof: ret 60"), "every forged frame was taken: \(result.stdout)")
    #expect(
      result.stderr.contains(
        "vm 1 10.0.0.1 02:00:0a:00:00:01: in 0 packets 0 bytes, out 30 packets 1800 bytes, dropped 30 (spoofed 30)"),
      "\(result.stderr)")
    #expect(
      result.stderr.contains(
        "vm 2 10.0.0.2 02:00:0a:00:00:02: in 0 packets 0 bytes, out 0 packets 0 bytes, dropped 0\n"),
      "the victim received and queued nothing: \(result.stderr)")
  }

  @Test("40,000 ARP requests a guest sends to itself, each waking it, leave the daemon standing")
  func selfWakeups() throws {
    guard Denalid.ready(guests: ["evil"]) else { return }
    // Each reply lands in an empty receive queue and raises the VM's interrupt on the switch thread. Before
    // the listener was stored at a fixed abstraction, every raise ran one frame deeper and the daemon died
    // of a stack overflow after about 16,000 of them. (`denalid run ... net-arp-self 1000000` is the long form.)
    let result = try Denalid.run(
      [
        "run", Denalid.guest("evil"), "--network", "10.0.0.0/24", "--timeout", "150s", "--", "net-arp-self", "40000",
      ], limit: .seconds(180))
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    #expect(result.stdout.contains("evil: net-arp-self: ret 40000"), "\(result.stdout)")
  }

  @Test("a guest flooding as fast as it can keeps at least a third of another pair's echo rate on one worker")
  func floodFairness() throws {
    guard Denalid.ready(guests: ["udp-echo", "udp-client", "udp-flood"]) else { return }
    // One worker for both runs: the comparison is then the scheduler's share between the VMs, not how many
    // cores the other suites leave free at that moment.
    let options = ["--network", "10.0.0.0/24", "--net-stats", "--workers", "1"]
    // The flooder floods until the run's timeout ends it, so the flooded run lasts its whole timeout: 10 s, room for
    // the client's 200 echoes on a host loaded by other suites (5 s was not, there).
    let guestArguments = ["--", "peer=10.0.0.1", "count=200", "timeout-ms=10000", "linger-ms=100"]
    // Alternate three rounds of each and compare the best of each: other suites load the machine at the
    // same time, and the best round of each is the one least disturbed by them.
    var ratesAlone: [Int] = []
    var ratesFlooded: [Int] = []
    for _ in 0..<3 {
      let alone = try Denalid.run(
        ["run", Denalid.guest("udp-echo"), Denalid.guest("udp-client")] + options + ["--timeout", "60s"]
          + guestArguments)
      let flooded = try Denalid.run(
        ["run", Denalid.guest("udp-echo"), Denalid.guest("udp-client"), Denalid.guest("udp-flood")] + options
          + ["--timeout", "10s"] + guestArguments)
      ratesAlone.append(try #require(Self.echoRate(alone.stdout), "\(alone.stdout) \(alone.stderr)"))
      ratesFlooded.append(try #require(Self.echoRate(flooded.stdout), "\(flooded.stdout) \(flooded.stderr)"))
      #expect(alone.status == 0)
      #expect(flooded.stdout.contains("[vm 2] udp-client: 200/200 echoes"), "\(flooded.stdout)")
      #expect(
        flooded.stderr.contains("vm 3 10.0.0.3")
          && !flooded.stderr.contains("vm 3 10.0.0.3 02:00:0a:00:00:03: in 0 packets 0 bytes, out 0 packets"),
        "the flooder really flooded: \(flooded.stderr)")
    }
    let rateAlone = ratesAlone.max() ?? 0
    let rateFlooded = ratesFlooded.max() ?? 0
    print(
      "echo rate alone \(ratesAlone)/s, beside a flooder \(ratesFlooded)/s (best: \(Double(rateFlooded) / Double(max(1, rateAlone))))"
    )
    // Three VMs share the one worker fairly: the echo pair keeps at least two thirds of it, and the server's
    // receive work on flood frames (the switch lets the flooder fill at most its share of the server's queue)
    // can at most halve what is left for echoes: at least a third, typically 0.6 unloaded. (Before the
    // scheduler shared by virtual runtime the ratio was near 1, because the echo pair, always waking the
    // other, kept the front lane and starved the flooder: 157 ms of CPU in 4 s.)
    #expect(rateFlooded * 3 >= rateAlone, "echo rate \(ratesAlone)/s alone, \(ratesFlooded)/s beside a flooder")
  }

  /// The decimal number right after `label` in `text`.
  static func number(after label: String, in text: String) -> Int? {
    guard let range = text.range(of: label) else { return nil }
    return Int(text[range.upperBound...].prefix { $0.isNumber })
  }

  /// The client's `N per second` figure.
  static func echoRate(_ output: String) -> Int? {
    guard let line = output.split(separator: "\n").first(where: { $0.contains("udp-client:") }),
      let range = line.range(of: " per second")
    else { return nil }
    return Int(line[..<range.lowerBound].split(separator: " ").last ?? "")
  }
}
