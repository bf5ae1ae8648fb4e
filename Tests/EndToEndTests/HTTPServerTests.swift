// HTTPServerTests.swift: the httpd guest end to end: curl, socat and Python from Linux through the TAP uplink, all in
// network namespaces the tests create; the site image packed by `denalid disk pack` and attached read-only.
import Foundation
import Testing

@Suite("httpd with Linux clients")
struct HTTPServerTests {
  /// A /24 of these tests' own (TCP tests use 10.220-10.2xx).
  static func subnet(_ index: Int) -> String { "10.\(240 + index).0" }

  static let big = SiteImageTests.content(300_000, seed: 9)

  /// A packed site with an index page, a stylesheet and a 300 KB file.
  static func site() throws -> PackedSite {
    try PackedSite(["index.html": Array("<h1>hello</h1>\n".utf8), "sub/a.css": Array("body{}".utf8), "big.bin": big])
  }

  @Test(
    "curl gets files, HEAD and 404 over one kept-alive connection; HTTP/1.0 closes; pipelined requests and a refusal")
  func serves() throws {
    guard TCPGuestBehindTap.ready(guests: ["httpd"]), NetworkNamespace.available(tools: ["curl", "socat"]) else {
      return
    }
    let site = try Self.site()
    let guest = try TCPGuestBehindTap(
      guest: "httpd", subnet: Self.subnet(1), arguments: ["count=9"],
      options: ["--disk", site.image, "--disk-readonly"])
    let url = "http://\(guest.guestAddress)"
    let out = site.root + "/out"
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let gets = try guest.run(
      [
        "curl", "-sS", "-m", "60", "-w", "%{http_code} %{content_type} %{size_download} %{num_connects}\\n",
        "-o", out + "/index", "-o", out + "/css", "-o", out + "/big", "-o", out + "/missing",
        "\(url)/", "\(url)/sub/a.css", "\(url)/big.bin", "\(url)/nope",
      ], limit: .seconds(90))
    #expect(
      gets.output == """
        200 text/html; charset=utf-8 15 1
        200 text/css; charset=utf-8 6 0
        200 application/octet-stream 300000 0
        404  0 0

        """, "\(gets.output)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/big")) == Data(Self.big))
    #expect(try String(contentsOfFile: out + "/index", encoding: .utf8) == "<h1>hello</h1>\n")

    let head = try guest.run(["curl", "-sS", "-m", "30", "-I", "\(url)/sub/a.css"])
    #expect(
      head.output.contains("HTTP/1.1 200 OK\r\nContent-Type: text/css; charset=utf-8\r\nContent-Length: 6\r\n\r\n"),
      "\(head.output)")
    let old = try guest.run(["curl", "-sS", "-m", "30", "-0", "-D", "-", "-o", "/dev/null", "\(url)/"])
    #expect(old.output.contains("Content-Length: 15\r\nConnection: close\r\n"), "\(old.output)")

    let stream =
      "GET / HTTP/1.1\r\nHost: g\r\n\r\nGET /sub/a.css HTTP/1.1\r\nHost: g\r\n\r\nPOST / HTTP/1.1\r\nHost: g\r\n\r\n"
    let piped = try guest.run(
      ["socat", "-T", "20", "-", "TCP:\(guest.guestAddress):80"], input: stream, limit: .seconds(60))
    #expect(
      piped.output
        == "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 15\r\n\r\n<h1>hello</h1>\n"
        + "HTTP/1.1 200 OK\r\nContent-Type: text/css; charset=utf-8\r\nContent-Length: 6\r\n\r\nbody{}"
        + "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nAllow: GET, HEAD\r\nConnection: close\r\n\r\n",
      "\(piped.output.debugDescription)")

    let result = guest.finish()
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    #expect(
      result.stdout.contains("httpd: 4 connections, 7 ok, 1 not found, 1 refused, 0 failed, 0 expired"),
      "\(result.stdout)")
  }

  @Test("without a disk, the built-in page is at / and everything else is 404")
  func builtInPage() throws {
    guard TCPGuestBehindTap.ready(guests: ["httpd"]), NetworkNamespace.available(tools: ["curl"]) else { return }
    let guest = try TCPGuestBehindTap(guest: "httpd", subnet: Self.subnet(2), arguments: ["count=2"])
    let url = "http://\(guest.guestAddress)"
    let page = try guest.run(["curl", "-sS", "-m", "30", "\(url)/"])
    let missing = try guest.run(["curl", "-sS", "-m", "30", "-o", "/dev/null", "-w", "%{http_code}", "\(url)/other"])
    let result = guest.finish()
    #expect(page.output.contains("<h1>Hello from Denali</h1>"), "\(page.output)")
    #expect(missing.output == "404")
    #expect(
      result.stdout.hasPrefix("httpd: serving the built-in page on \(guest.guestAddress) port 80\n"), "\(result.stdout)"
    )
  }

  @Test("20 downloads, 8 at a time, all arrive intact")
  func concurrent() throws {
    guard TCPGuestBehindTap.ready(guests: ["httpd"]), NetworkNamespace.available(tools: ["curl"]) else { return }
    let files = (0..<5).reduce(into: [String: [UInt8]]()) {
      $0["f\($1).bin"] = SiteImageTests.content(20_000 + $1, seed: UInt8($1))
    }
    let site = try PackedSite(files)
    let guest = try TCPGuestBehindTap(
      guest: "httpd", subnet: Self.subnet(3), arguments: ["count=20"],
      options: ["--disk", site.image, "--disk-readonly"])
    let urls = (0..<20).map { "http://\(guest.guestAddress)/f\($0 % 5).bin" }
    let outputs = (0..<20).flatMap { ["-o", "/dev/null"] + [urls[$0]] }
    let download = try guest.run(
      [
        "curl", "-sS", "--no-progress-meter", "-m", "120", "--parallel", "--parallel-max", "8", "-w",
        "%{http_code} %{size_download}\\n",
      ] + outputs,
      limit: .seconds(150))
    let result = guest.finish()
    // Only the -w lines (curl's parallel mode may still draw a progress meter on the merged stderr).
    let lines = download.output.split(separator: "\n").map(String.init).filter {
      $0.hasPrefix("200 ") || $0.hasPrefix("404 ")
    }
    .sorted()
    let expected = (0..<20).map { "200 \(20_000 + $0 % 5)" }.sorted()
    #expect(lines == expected, "\(download.output)")
    #expect(result.stdout.contains("20 ok, 0 not found"), "\(result.stdout)")
  }

  @Test("a client that sends half a request and waits is reset after idle-ms; the next one is served")
  func idleExpiry() throws {
    guard TCPGuestBehindTap.ready(guests: ["httpd"]), NetworkNamespace.available(tools: ["curl"]) else { return }
    let guest = try TCPGuestBehindTap(guest: "httpd", subnet: Self.subnet(4), arguments: ["count=1", "idle-ms=500"])
    let script = """
      import socket, time
      s = socket.create_connection(("\(guest.guestAddress)", 80), timeout=20)
      s.sendall(b"GET / HTTP/1.1\\r\\n")
      start = time.monotonic()
      try:
          data = s.recv(100)
          print("ended" if data == b"" else "data", flush=True)
      except ConnectionResetError:
          print("reset", flush=True)
      print("after", round(time.monotonic() - start, 1), flush=True)
      """
    let slow = try guest.run(["python3", "-c", script], limit: .seconds(60))
    let page = try guest.run([
      "curl", "-sS", "-m", "30", "-o", "/dev/null", "-w", "%{http_code}", "http://\(guest.guestAddress)/",
    ])
    let result = guest.finish()
    #expect(slow.output.hasPrefix("reset\n"), "\(slow.output)")
    #expect(page.output == "200")
    #expect(result.stdout.contains("1 expired"), "\(result.stdout)")
  }
}
