// TCPTests.swift: Ilwaco's TCP against Linux: the tcp-echo guest with socat and Python peers through the TAP
// uplink (small and 1 MiB echoes, 100 connections at once, half-close, a reset for a closed port), all inside
// network namespaces the tests create.
import Foundation
import Testing

@Suite("TCP with Linux peers")
struct TCPTests {
  /// A /24 of these tests' own (NetworkTests uses 10.201-10.2xx.0 for UDP).
  static func subnet(_ index: Int) -> String { "10.\(220 + index).0" }

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
      guest: "tcp-echo", subnet: Self.subnet(3), arguments: ["count=100", "max-connections=128", "buffer=2048", "half-open=128"])
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
    #expect(echo.status == 0 && echo.output.contains("sent 200000 bytes and our FIN, 200000 of 200000 bytes came back, then EOF"),
            "\(echo.output)")
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
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
