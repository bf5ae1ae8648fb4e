// HTTPLoadTests.swift: httpd under heavier use by Linux clients through the TAP uplink, in network namespaces the
// tests create: a 1 MiB download, 100 concurrent keep-alive connections (ab) in a 2 MiB VM, more clients than
// connections (the listen backlog), 32 clients of 16-64 KiB documents at once (the host's receive queue overflowing),
// and a connection to a VM the gatekeeper swapped out.
import Foundation
import Testing

@Suite("httpd under load")
struct HTTPLoadTests {
  /// A /24 of these tests' own (HTTPServerTests uses 10.241-10.244, the TCP tests 10.221-10.230).
  static func subnet(_ index: Int) -> String { "10.\(245 + index).0" }

  /// The 1 KiB file of the load tests.
  static let small = SiteImageTests.content(1024, seed: 21)

  /// The decimal number right after `label` in `text`.
  static func number(after label: String, in text: String) -> Int? { TCPTests.number(after: label, in: text) }

  @Test("curl fetches a 1 MiB file, byte for byte the packed source")
  func mebibyte() throws {
    guard TCPGuestBehindTap.ready(guests: ["httpd"]), NetworkNamespace.available(tools: ["curl"]) else { return }
    let big = SiteImageTests.content(1 << 20, seed: 17)
    let site = try PackedSite(["big.bin": big, "index.html": Array("<p>x</p>\n".utf8)])
    let guest = try TCPGuestBehindTap(
      guest: "httpd", subnet: Self.subnet(0), arguments: ["count=1"],
      options: ["--disk", site.image, "--disk-readonly"])
    let out = site.root + "/big.out"
    let got = try guest.run(
      [
        "curl", "-sS", "-m", "150", "-o", out, "-w", "%{http_code} %{size_download}",
        "http://\(guest.guestAddress)/big.bin",
      ],
      limit: .seconds(180))
    let result = guest.finish()
    #expect(got.output == "200 1048576", "\(got.output)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(big))
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    #expect(result.stdout.contains("httpd: 1 connections, 1 ok, 0 not found, 0 refused, 0 failed"), "\(result.stdout)")
  }

  @Test(
    "ab -k -c 100: 100 concurrent keep-alive connections to a 2 MiB httpd, every response a 200 of the right length")
  func hundredKeepAlive() throws {
    guard TCPGuestBehindTap.ready(guests: ["httpd"]), NetworkNamespace.available(tools: ["ab", "curl"]) else { return }
    let site = try PackedSite(["file1k.html": Self.small])
    let requests = 400
    // The configuration Docs/GUESTS.md gives for 100 connections in 2 MiB: 2 KiB TCP buffers, 1 KiB request heads.
    let guest = try TCPGuestBehindTap(
      guest: "httpd", subnet: Self.subnet(1),
      arguments: ["count=\(requests + 1)", "max-connections=100", "buffer=2048", "head=1024"],
      options: ["--memory", "2MiB", "--disk", site.image, "--disk-readonly"], timeout: "300s")
    let url = "http://\(guest.guestAddress)/file1k.html"
    let load = try guest.run(["ab", "-k", "-c", "100", "-n", "\(requests)", "-s", "120", url], limit: .seconds(240))
    // One more fetch, its bytes compared with the file: the server is intact after the load.
    let check = try guest.run(["curl", "-sS", "-m", "60", url], limit: .seconds(90))
    let result = guest.finish(limit: .seconds(180))
    #expect(load.status == 0, "\(load.output)")
    let compact = load.output.replacingOccurrences(of: " ", with: "")
    #expect(compact.contains("Concurrencylevel:100") || compact.contains("ConcurrencyLevel:100"), "\(load.output)")
    #expect(compact.contains("Completerequests:\(requests)\n"), "\(load.output)")
    #expect(compact.contains("Failedrequests:0\n"), "\(load.output)")
    #expect(compact.contains("Keep-Aliverequests:\(requests)\n"), "\(load.output)")
    #expect(compact.contains("DocumentLength:1024bytes"), "\(load.output)")
    #expect(!compact.contains("Non-2xx"), "\(load.output)")
    #expect(check.output == String(decoding: Self.small, as: UTF8.self))
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    let final =
      result.stdout.split(separator: "\n").first { $0.hasPrefix("httpd: ") && $0.contains(" connections, ") } ?? ""
    #expect(final.contains(" \(requests + 1) ok, 0 not found, 0 refused, 0 failed, 0 expired"), "\(result.stdout)")
    // ab's 100 connections and curl's, within the heap the guest checked at start.
    #expect((Self.number(after: "httpd: ", in: String(final)) ?? 0) >= 101, "\(final)")
    #expect((Self.number(after: "lowest ", in: String(final)) ?? 0) > 0, "\(final)")
  }

  @Test("more clients than max-connections wait in the listen backlog and are all served; the server stays bounded")
  func backlog() throws {
    guard TCPGuestBehindTap.ready(guests: ["httpd"]), NetworkNamespace.available(tools: ["ab"]) else { return }
    let site = try PackedSite(["file1k.html": Self.small])
    let clients = 24
    let guest = try TCPGuestBehindTap(
      guest: "httpd", subnet: Self.subnet(2), arguments: ["count=\(clients)", "max-connections=4", "half-open=32"],
      options: ["--memory", "2MiB", "--disk", site.image, "--disk-readonly"], timeout: "300s")
    // ab without -k: HTTP/1.0, a new connection per request, all 24 at once against 4 connection slots.
    let load = try guest.run(
      ["ab", "-c", "\(clients)", "-n", "\(clients)", "-s", "120", "http://\(guest.guestAddress)/file1k.html"],
      limit: .seconds(240))
    let result = guest.finish(limit: .seconds(180))
    let compact = load.output.replacingOccurrences(of: " ", with: "")
    #expect(load.status == 0, "\(load.output)")
    #expect(
      compact.contains("Completerequests:\(clients)\n") && compact.contains("Failedrequests:0\n"), "\(load.output)")
    #expect(!compact.contains("Non-2xx"), "\(load.output)")
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    let final = String(result.stdout.split(separator: "\n").first { $0.contains(" connections, ") } ?? "")
    // (A client whose SYN Linux sent twice may count as two connections; every request was answered once.)
    #expect((Self.number(after: "httpd: ", in: final) ?? 0) >= clients, "\(final)")
    #expect(final.contains(" connections, \(clients) ok, 0 not found, 0 refused, 0 failed"), "\(result.stdout)")
    // Handshakes completed while all four slots were taken, and waited instead of being reset.
    #expect((Self.number(after: "queued ", in: final) ?? 0) > 0, "\(final)")
    #expect(Self.number(after: ", refused ", in: final.components(separatedBy: "; TCP ").last ?? "") == 0, "\(final)")
  }

  @Test("with a backlog smaller than the burst, clients beyond it are refused with a reset, and the server serves on")
  func beyondTheBacklog() throws {
    guard TCPGuestBehindTap.ready(guests: ["httpd"]), NetworkNamespace.available(tools: ["curl"]) else { return }
    let clients = 24
    let guest = try TCPGuestBehindTap(
      guest: "httpd", subnet: Self.subnet(3), arguments: ["max-connections=2", "half-open=4", "idle-ms=5000"],
      options: ["--memory", "2MiB"], timeout: "45s")
    // 24 connections at once, each sending one request and reading until the server closes; each ends served or
    // reset, none hangs.
    let script = """
      import socket, threading
      results = []
      def client():
          try:
              s = socket.create_connection(("\(guest.guestAddress)", 80), timeout=30)
              s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
              data = b""
              while True:
                  piece = s.recv(65536)
                  if not piece: break
                  data += piece
              results.append("ok" if data.startswith(b"HTTP/1.1 200 OK") else "bad")
          except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError):
              results.append("reset")
          except Exception as error:
              results.append(type(error).__name__)
      threads = [threading.Thread(target=client) for _ in range(\(clients))]
      for t in threads: t.start()
      for t in threads: t.join()
      print(" ".join(sorted(results)))
      print("served", results.count("ok"), "reset", results.count("reset"))
      """
    let burst = try guest.run(["python3", "-c", script], limit: .seconds(40))
    let after = try guest.run([
      "curl", "-sS", "-m", "20", "-o", "/dev/null", "-w", "%{http_code}", "http://\(guest.guestAddress)/",
    ])
    let counts = burst.output.split(separator: "\n").last.map(String.init) ?? ""
    let served = Self.number(after: "served ", in: counts) ?? -1
    let reset = Self.number(after: "reset ", in: counts) ?? -1
    #expect(served + reset == clients, "\(burst.output)")
    #expect(served >= 2 && reset >= 1, "\(burst.output)")
    #expect(after.output == "200", "\(after.output)")
    // The guest is still running (it serves forever here): it has not crashed.
    let result = guest.finish(limit: .seconds(120))
    #expect(result.status == 124, "\(result.stdout) \(result.stderr)")
    #expect(!result.stderr.contains("fault"), "\(result.stderr)")
  }

  @Test("32 clients of 16-64 KiB documents at once get whole bodies; no retransmission times out twice, few resets")
  func manyLargeResponses() throws {
    guard TCPGuestBehindTap.ready(guests: ["httpd"]), NetworkNamespace.available(tools: ["python3"]) else { return }
    // 32 connections of 8 KiB send buffers, each filled at once: their ACKs come back faster than the guest takes
    // them, so the host's receive queue (64 frames) overflows and drops some. A retransmission timeout must not
    // make that worse: the guest once retransmitted while the queue was still full (the timer runs right after a
    // batch that filled it), lost every ACK of every backed-off try, and a response stopped after 8,192 bytes.
    let documents = [
      "d16.bin": SiteImageTests.content(16 << 10, seed: 31), "d64.bin": SiteImageTests.content(64 << 10, seed: 32),
    ]
    let site = try PackedSite(documents)
    let clients = 32
    let rounds = 4
    let guest = try TCPGuestBehindTap(
      guest: "httpd", subnet: Self.subnet(5),
      arguments: ["count=\(clients * rounds)", "max-connections=\(clients)", "buffer=8192", "lazy-time-wait"],
      options: ["--memory", "2MiB", "--disk", site.image, "--disk-readonly"], timeout: "120s")
    // Each client fetches the documents in turn on new connections (HTTP/1.0) and compares every body with the
    // file that was packed.
    let script = """
      import socket, threading
      expected = {"/" + name: open("\(site.site)/" + name, "rb").read() for name in \(documents.keys.sorted())}
      paths = sorted(expected)
      results = []
      def client(index):
          for round in range(\(rounds)):
              path = paths[(index + round) % len(paths)]
              try:
                  s = socket.create_connection(("\(guest.guestAddress)", 80), timeout=40)
                  s.sendall(("GET " + path + " HTTP/1.0\\r\\n\\r\\n").encode())
                  data = b""
                  while True:
                      piece = s.recv(65536)
                      if not piece: break
                      data += piece
                  s.close()
                  head, _, body = data.partition(b"\\r\\n\\r\\n")
                  ok = head.startswith(b"HTTP/1.1 200") and body == expected[path]
                  results.append("ok" if ok else "short:%s:%d" % (path, len(body)))
              except Exception as error:
                  results.append(type(error).__name__)
      threads = [threading.Thread(target=client, args=(i,)) for i in range(\(clients))]
      for t in threads: t.start()
      for t in threads: t.join()
      print(" ".join(sorted(r for r in results if r != "ok")))
      print("whole", results.count("ok"))
      """
    let load = try guest.run(["python3", "-c", script], limit: .seconds(100))
    let result = guest.finish(limit: .seconds(60))
    #expect(load.output.split(separator: "\n").last == "whole \(clients * rounds)", "\(load.output)")
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    let final = String(result.stdout.split(separator: "\n").first { $0.contains(" connections, ") } ?? "")
    #expect(final.contains(" \(clients * rounds) ok, 0 not found, 0 refused, 0 failed, 0 expired"), "\(result.stdout)")
    // A retransmission sent after the queued frames were taken in has room in the queue for its ACK, so it does
    // not time out again (measured: 0; before, 38-51 here, some connections until the client gave up). A few are
    // allowed for a machine loaded enough to delay an ACK by twice the timeout.
    #expect((Self.number(after: ", repeated ", in: final) ?? 99) <= 3, "\(final)")
    // With the table full, each new connection reclaims a TIME-WAIT one (lazy-time-wait), sometimes in the batch
    // that took the client's FIN: the ACK owed goes out first, so the client is not reset when it resends the FIN
    // (measured: 0 resets on a quiet host; before, 79-83 here). On a loaded host a client's FIN retransmission can
    // still outrun the guest's ACK and meet a TCB reclaimed since (5 and 7 in two runs beside another suite): a
    // reset the client, already closed, never sees. The bound keeps far below the bug's 79-83.
    #expect((Self.number(after: ", resets sent ", in: final) ?? 99) <= 20, "\(final)")
  }

  @Test("a connection to an httpd VM that the gatekeeper swapped out wakes it, and it answers")
  func swappedOut() throws {
    guard TCPGuestBehindTap.ready(guests: ["httpd", "cpu-pattern"]), NetworkNamespace.available(tools: ["curl"]) else {
      return
    }
    let site = try PackedSite(["file1k.html": Self.small])
    // httpd (VM 1, the first address) and three cpu-pattern VMs waking every 100 ms in a budget of three 2 MiB VMs:
    // the gatekeeper evicts the VM idle the longest, httpd, which waits for a connection and has no timer due for an
    // hour (idle-ms), so only the frame can wake it. The guests share the arguments; each takes its own keys.
    let guest = try TCPGuestBehindTap(
      guest: "httpd", subnet: Self.subnet(4), arguments: ["idle-ms=3600000", "spin-us=1", "idle-ns=100000000"],
      options: [
        Denalid.guest("cpu-pattern") + ":3", "--memory", "2MiB", "--memory-budget", "6MiB", "--disk", site.image,
        "--disk-readonly",
      ], timeout: "25s")
    // Let httpd boot and be evicted before the first frame is sent to it.
    Thread.sleep(forTimeInterval: 5)
    let got = try guest.run(
      ["curl", "-sS", "-m", "15", "-w", "\\n%{http_code}", "http://\(guest.guestAddress)/file1k.html"],
      limit: .seconds(30))
    let result = guest.finish(limit: .seconds(60))
    #expect(got.output == String(decoding: Self.small, as: UTF8.self) + "\n200", "\(got.output)")
    // Everything was stopped by the timeout; the report names httpd's swap-ins.
    #expect(result.status == 124, "\(result.stdout) \(result.stderr)")
    let line = result.stderr.split(separator: "\n").first { $0.hasPrefix("denalid: vm 1 \(guest.guestAddress) ") } ?? ""
    #expect((Self.number(after: "swapped out ", in: String(line)) ?? 0) >= 1, "\(result.stderr)")
    #expect(
      (Self.number(after: ", in ", in: String(line).components(separatedBy: "; swapped").last ?? "") ?? 0) >= 1,
      "\(result.stderr)")
    #expect(result.stderr.contains("swap: "), "\(result.stderr)")
  }
}
