// TCPTests.swift: Ilwaco's TCP against Linux: the tcp-echo and tcp-bulk guests with socat and Python peers through
// the TAP uplink (small and 1 MiB echoes, 100 connections at once, half-close, flow control and zero windows, RFC
// 5961's checks, a reset for a closed port), over a lossy path, with the guest as client, and under a SYN flood;
// all inside network namespaces the tests create.
import Foundation
import Testing

@Suite("TCP with Linux peers")
struct TCPTests {
  /// A /24 of these tests' own (NetworkTests uses 10.201-10.2xx.0 for UDP).
  static func subnet(_ index: Int) -> String { "10.\(220 + index).0" }

  /// The decimal number right after `label` in `text`.
  static func number(after label: String, in text: String) -> Int? {
    guard let range = text.range(of: label) else { return nil }
    return Int(text[range.upperBound...].prefix { $0.isNumber })
  }

  @Test("TCP's internal pieces pass their self-checks (wrapping sequence numbers, out-of-order queue, checksums, ...)")
  func selfChecks() throws {
    guard Denalid.ready(guests: ["tcp-check"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("tcp-check")])
    #expect(result.status == 0 && result.stdout == "tcp-check: ok\n", "\(result.stdout) \(result.stderr)")
  }

  @Test("socat's bytes come back intact from tcp-echo, and its FIN closes the connection")
  func socatEcho() throws {
    guard TCPGuestBehindTap.ready(guests: ["tcp-echo"]), NetworkNamespace.available(tools: ["socat"]) else { return }
    let guest = try TCPGuestBehindTap(guest: "tcp-echo", subnet: Self.subnet(1), arguments: ["count=1"])
    let message = "hello from Linux over TCP\nsecond line\n"
    let echo = try guest.run(["socat", "-T", "10", "-", "TCP:\(guest.guestAddress):7"], input: message)
    let result = guest.finish()
    #expect(echo.status == 0 && echo.output == message, "socat got \(echo.output.debugDescription)")
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    #expect(result.stdout.contains("tcp-echo: served 1 connections, \(message.utf8.count) bytes"), "\(result.stdout)")
  }

  @Test("1 MiB sent by a Linux socket comes back intact")
  func mebibyteEcho() throws {
    guard TCPGuestBehindTap.ready(guests: ["tcp-echo"]) else { return }
    let guest = try TCPGuestBehindTap(guest: "tcp-echo", subnet: Self.subnet(2), arguments: ["count=1"])
    let echo = try guest.peer(["echo", guest.guestAddress, "7", "1048576"])
    let result = guest.finish()
    #expect(echo.status == 0 && echo.output.hasPrefix("ok "), "\(echo.output)")
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    #expect(result.stdout.contains("served 1 connections, 1048576 bytes"), "\(result.stdout)")
  }

  @Test("100 connections at once are all echoed correctly")
  func hundredConnections() throws {
    guard TCPGuestBehindTap.ready(guests: ["tcp-echo"]) else { return }
    let guest = try TCPGuestBehindTap(
      guest: "tcp-echo", subnet: Self.subnet(3),
      arguments: ["count=100", "max-connections=128", "buffer=2048", "half-open=128"])
    let echo = try guest.peer(["concurrent", guest.guestAddress, "7", "100", "1000"])
    let result = guest.finish()
    #expect(echo.status == 0 && echo.output.contains("100 of 100 connections"), "\(echo.output)")
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    #expect(result.stdout.contains("accepted 100"), "\(result.stdout)")
  }

  @Test("half-close: after Linux shuts its sending side, the guest still sends the rest of the echo, then closes")
  func halfClose() throws {
    guard TCPGuestBehindTap.ready(guests: ["tcp-echo"]) else { return }
    let guest = try TCPGuestBehindTap(guest: "tcp-echo", subnet: Self.subnet(4), arguments: ["count=1"])
    let echo = try guest.peer(["half-close", guest.guestAddress, "7", "200000"])
    let result = guest.finish()
    #expect(
      echo.status == 0
        && echo.output.contains("sent 200000 bytes and our FIN, 200000 of 200000 bytes came back, then EOF"),
      "\(echo.output)")
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
  }

  @Test(
    "flow control: a guest that stops reading for 2 s closes its window, Linux probes it, and the stream resumes intact"
  )
  func guestClosesItsWindow() throws {
    guard TCPGuestBehindTap.ready(guests: ["tcp-bulk"]) else { return }
    let guest = try TCPGuestBehindTap(
      guest: "tcp-bulk", subnet: Self.subnet(11),
      arguments: ["mode=sink", "verify", "bytes=262144", "buffer=8192", "pause-at=32768", "pause-ms=2000"])
    let send = try guest.peer(["send", guest.guestAddress, "5001", "262144"])
    let result = guest.finish()
    #expect(send.status == 0, "\(send.output)")
    #expect(
      result.status == 0 && result.stdout.contains("received 262144 bytes") && result.stdout.contains("pattern ok"),
      "\(result.stdout) \(result.stderr)")
    let microseconds = try #require(Self.number(after: "bytes in ", in: result.stdout))
    #expect(microseconds >= 2_000_000, "the pause really held the stream: \(result.stdout)")
  }

  @Test("zero-window probing: the guest sending to a Linux reader that stops reading probes its window until it opens")
  func guestProbesAZeroWindow() throws {
    guard TCPGuestBehindTap.ready(guests: ["tcp-bulk"]) else { return }
    let guest = try TCPGuestBehindTap(
      guest: "tcp-bulk", subnet: Self.subnet(12), arguments: ["mode=send", "bytes=262144"])
    // A 4 KiB receive buffer and 3 s without reading after 16 KiB: Linux's window goes to zero.
    let sink = try guest.peer(["sink", guest.guestAddress, "5001", "262144", "4096", "16384", "3"])
    let result = guest.finish()
    #expect(sink.status == 0 && sink.output.hasPrefix("ok sink: 262144 of 262144"), "\(sink.output)")
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    #expect((Self.number(after: "window probes ", in: result.stdout) ?? 0) > 0, "\(result.stdout)")
  }

  @Test("RFC 5961: forged in-window RST and SYN bring challenge ACKs and the connection lives; an exact RST ends it")
  func blindResetChecks() throws {
    guard TCPGuestBehindTap.ready(guests: ["tcp-echo"]) else { return }
    let guest = try TCPGuestBehindTap(guest: "tcp-echo", subnet: Self.subnet(13), arguments: ["count=2"])
    let check = try guest.peer(["rst-check", guest.guestAddress, "7", "dtap0"])
    let result = guest.finish()
    #expect(check.status == 0 && check.output.contains("all checks passed"), "\(check.output)")
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    // Two challenge ACKs (RST, SYN), one reset honoured, one reset sent (for data to the connection it ended).
    #expect(
      result.stdout.contains("challenge ACKs 2") && result.stdout.contains("resets sent 1 received 1"),
      "\(result.stdout)")
  }

  @Test("a TIME-WAIT kept without a timer refuses an old SYN only for its quiet time, then any SYN reopens it")
  func timeWaitReuse() throws {
    guard TCPGuestBehindTap.ready(guests: ["httpd"]) else { return }
    // lazy-time-wait: the TIME-WAIT connection stays until its slot is needed. A peer reusing the port with a sequence
    // number below the old connection's (Linux's clock for a 4-tuple passes 2^31 after 137 s) was answered with the
    // old connection's ACK for ever; its reset is ignored in TIME-WAIT (RFC 1337), so the port was dead to that peer.
    let guest = try TCPGuestBehindTap(
      guest: "httpd", subnet: Self.subnet(14), arguments: ["count=2", "lazy-time-wait", "time-wait-quiet-ms=3000"])
    let check = try guest.peer(["time-wait-reuse", guest.guestAddress, "80", "dtap0", "3"])
    let result = guest.finish()
    #expect(check.status == 0 && check.output.contains("all checks passed"), "\(check.output)")
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    #expect(result.stdout.contains("TIME-WAIT reopened 1"), "\(result.stdout)")
  }

  @Test("a connection to a port nobody listens on is refused at once with a reset")
  func closedPortReset() throws {
    guard TCPGuestBehindTap.ready(guests: ["tcp-echo"]) else { return }
    let guest = try TCPGuestBehindTap(guest: "tcp-echo", subnet: Self.subnet(5), arguments: ["count=1"])
    let refused = try guest.peer(["refused", guest.guestAddress, "9"])
    let echo = try guest.peer(["echo", guest.guestAddress, "7", "100"])  // then the guest ends
    let result = guest.finish()
    #expect(refused.status == 0 && refused.output.hasPrefix("ok refused"), "\(refused.output)")
    #expect(echo.status == 0, "\(echo.output)")
    #expect(result.stdout.contains("resets sent 1"), "\(result.stdout)")
  }
}

@Suite("TCP over a lossy path and with the guest as client")
struct TCPLossyPathTests {
  @Test("1 MiB from Linux to the guest arrives intact with 5% loss, 5 ms delay and 10% reordering both ways")
  func hostToGuestUnderLoss() throws {
    guard TCPGuestBehindTap.ready(guests: ["tcp-bulk"], lossy: true) else { return }
    let guest = try TCPGuestBehindTap(
      guest: "tcp-bulk", subnet: TCPTests.subnet(6), arguments: ["mode=sink", "verify", "bytes=1048576"],
      timeout: "300s",
      impairment: PathImpairment())
    let send = try guest.peer(["send", guest.guestAddress, "5001", "1048576"], limit: .seconds(300))
    let result = guest.finish(limit: .seconds(300))
    #expect(send.status == 0, "\(send.output)")
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    #expect(
      result.stdout.contains("received 1048576 bytes") && result.stdout.contains("pattern ok"), "\(result.stdout)")
    // The path really was lossy and reordering: the relay dropped frames and the guest queued some out of order.
    #expect(
      (TCPTests.number(after: "dropped ", in: result.stderr.components(separatedBy: "relay:").last ?? "") ?? 0) > 0,
      "\(result.stderr)")
    #expect((TCPTests.number(after: "out of order ", in: result.stdout) ?? 0) > 0, "\(result.stdout)")
  }

  @Test("1 MiB from the guest to Linux arrives intact with 5% loss, 5 ms delay and 10% reordering both ways")
  func guestToHostUnderLoss() throws {
    guard TCPGuestBehindTap.ready(guests: ["tcp-bulk"], lossy: true) else { return }
    let guest = try TCPGuestBehindTap(
      guest: "tcp-bulk", subnet: TCPTests.subnet(7), arguments: ["mode=send", "bytes=1048576"], timeout: "300s",
      impairment: PathImpairment())
    let sink = try guest.peer(["sink", guest.guestAddress, "5001", "1048576"], limit: .seconds(300))
    let result = guest.finish(limit: .seconds(300))
    #expect(sink.status == 0 && sink.output.hasPrefix("ok sink: 1048576 of 1048576"), "\(sink.output)")
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    // Lost segments were sent again (fast retransmit or timeout).
    #expect((TCPTests.number(after: "retransmitted ", in: result.stdout) ?? 0) > 0, "\(result.stdout)")
  }

  @Test("the guest as client (active open) sends 256 KiB to a Linux listener and receives 256 KiB from another")
  func guestAsClient() throws {
    guard TCPGuestBehindTap.ready(guests: ["tcp-bulk"]) else { return }
    for (mode, listenerMode) in [("send", "serve-sink"), ("sink", "serve-send")] {
      let subnet = TCPTests.subnet(mode == "send" ? 8 : 9)
      let host = TCPGuestBehindTap.peerAddress(subnet: subnet, lossy: false)
      // The listener can only start once the TAP device (and its address) exists, after the guest: the guest
      // tries again every 200 ms while it is refused.
      let guest = try TCPGuestBehindTap(
        guest: "tcp-bulk", subnet: subnet,
        arguments: ["role=client", "mode=\(mode)", "peer=\(host)", "port=6001", "bytes=262144", "verify", "tries=100"],
        timeout: "60s")
      let listener = try guest.startPeer([listenerMode, "6001", "262144"])
      let served = listener.wait(limit: .seconds(90))
      let result = guest.finish()
      #expect(served.status == 0 && served.stdout.contains("ok serve-"), "\(served.stdout) \(served.stderr)")
      #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
      #expect(
        result.stdout.contains(mode == "send" ? "sent 262144 bytes" : "received 262144 bytes"), "\(result.stdout)")
    }
  }
}

@Suite("TCP under a SYN flood")
struct TCPSynFloodTests {
  @Test("a SYN flood leaves the guest's memory bounded and its established and new connections served")
  func synFlood() throws {
    guard TCPGuestBehindTap.ready(guests: ["tcp-echo"]) else { return }
    let halfOpenLimit = 32
    let buffer = 8192
    let guest = try TCPGuestBehindTap(
      guest: "tcp-echo", subnet: TCPTests.subnet(10),
      arguments: ["count=2", "stats-ms=200", "half-open=\(halfOpenLimit)", "buffer=\(buffer)", "max-connections=16"])
    let check = try guest.peer(["flood-check", guest.guestAddress, "7", "3000", guest.subnet], limit: .seconds(120))
    let result = guest.finish()
    #expect(
      check.status == 0 && check.output.contains("during the flood 5 of 5") && check.output.contains("echoed True"),
      "\(check.output)")
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    let lines = result.stdout.split(separator: "\n").map(String.init)
    let startHeap = try #require(
      TCPTests.number(after: "heap free ", in: lines.first { $0.contains("listening on") } ?? ""))
    let final = try #require(lines.first { $0.hasPrefix("tcp-echo: served") }, "\(result.stdout)")
    let lowestHeap = try #require(TCPTests.number(after: "lowest ", in: final))
    // Many SYNs reached the guest and the half-open table made room for them by dropping the oldest...
    #expect((TCPTests.number(after: "half-open dropped ", in: final) ?? 0) > 100, "\(final)")
    // ...never holding more than its limit...
    for line in lines where line.hasPrefix("tcp-echo: stats") || line.hasPrefix("tcp-echo: served") {
      #expect((TCPTests.number(after: "half-open ", in: line) ?? .max) <= halfOpenLimit, "\(line)")
    }
    // ...and the heap only ever paid for the two real connections' buffers (two rings of `buffer` bytes each,
    // plus their TCBs): the flood itself allocated nothing.
    let perConnection = 2 * buffer + 1024
    #expect(startHeap - lowestHeap <= 2 * perConnection + 4096, "heap \(startHeap) at start, lowest \(lowestHeap)")
  }
}
