// HTTPParserTests.swift: Ilwaco's HTTP/1.1 request parser and response-head writer in a real guest: canned request
// streams (files in a site image) fed through site-check whole and in pieces of 1, 7 and 100 bytes, which must all
// give the same requests, statuses and response heads.
import Foundation
import Testing

@Suite("HTTP parser")
struct HTTPParserTests {
  /// Files the requests ask for.
  static let site: [String: [UInt8]] = [
    "index.html": Array("<h1>hi</h1>\n".utf8), "sub/a.css": Array("body{}".utf8), ".well-known/x.txt": [1, 2, 3],
  ]

  static let html = "text/html; charset=utf-8"
  static let css = "text/css; charset=utf-8"

  /// The lines site-check prints for a request that finds a file (`connection`: the Connection field sent back).
  static func found(_ request: String, _ type: String, _ length: Int, connection: String? = nil) -> [String] {
    ["request " + request, "HTTP/1.1 200 OK", "Content-Type: \(type)", "Content-Length: \(length)"]
      + (connection.map { ["Connection: \($0)"] } ?? [])
  }

  /// The lines for a request whose file is missing.
  static func missing(_ request: String, connection: String? = nil) -> [String] {
    ["request " + request, "HTTP/1.1 404 Not Found", "Content-Type: text/plain; charset=utf-8", "Content-Length: 0"]
      + (connection.map { ["Connection: \($0)"] } ?? [])
  }

  /// The lines for a refused request, which ends the stream.
  static func refused(_ code: Int, _ reason: String) -> [String] {
    ["failure \(code)", "HTTP/1.1 \(code) \(reason)", "Content-Length: 0"] + (code == 405 ? ["Allow: GET, HEAD"] : [])
      + ["Connection: close", "http: 0 requests, then an incomplete or refused one"]
  }

  static let host = "Host: example\r\n"

  /// Request streams and the lines they must give.
  static let cases: [(name: String, stream: String, lines: [String])] = [
    ("basic", "GET / HTTP/1.1\r\n\(host)\r\n", found("GET / 1.1 keep-alive", html, 12) + ["http: 1 requests"]),
    (
      "head-1.0", "HEAD /sub/a.css HTTP/1.0\r\n\r\n",
      found("HEAD /sub/a.css 1.0 close", css, 6, connection: "close") + ["http: 1 requests"]
    ),
    (
      "keep-alive-1.0", "GET /sub/a.css HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
      found("GET /sub/a.css 1.0 keep-alive", css, 6, connection: "keep-alive") + ["http: 1 requests"]
    ),
    (
      "close-1.1", "GET / HTTP/1.1\r\n\(host)connection: upgrade, CLOSE\r\n\r\n",
      found("GET / 1.1 close", html, 12, connection: "close") + ["http: 1 requests"]
    ),
    (
      "pipelined",
      "\r\nGET / HTTP/1.1\r\n\(host)\r\nGET /nothing HTTP/1.1\n\(host)\nHEAD /sub/a.css HTTP/1.1\r\n\(host)\r\n",
      found("GET / 1.1 keep-alive", html, 12) + missing("GET /nothing 1.1 keep-alive")
        + found("HEAD /sub/a.css 1.1 keep-alive", css, 6) + ["http: 3 requests"]
    ),
    (
      "body-skipped", "GET / HTTP/1.1\r\n\(host)Content-Length: 7\r\n\r\nGET / HGET /sub/a.css HTTP/1.1\r\n\(host)\r\n",
      found("GET / 1.1 keep-alive body 7", html, 12) + found("GET /sub/a.css 1.1 keep-alive", css, 6)
        + ["http: 2 requests"]
    ),
    (
      "normalised",
      "GET //sub///%61.css?x=/../ HTTP/1.1\r\n\(host)\r\nGET http://example/sub/a.css HTTP/1.1\r\n\(host)\r\n"
        + "GET /.well-known/x.txt HTTP/1.1\r\n\(host)\r\nGET /a/.../b HTTP/1.1\r\n\(host)\r\n"
        + "GET /sub/ HTTP/1.1\r\n\(host)\r\nGET HTTP://example HTTP/1.1\r\n\(host)\r\nGET / HTTP/1.9\r\n\(host)\r\n",
      found("GET /sub/a.css 1.1 keep-alive", css, 6) + found("GET /sub/a.css 1.1 keep-alive", css, 6)
        + found("GET /.well-known/x.txt 1.1 keep-alive", "text/plain; charset=utf-8", 3)
        + missing("GET /a/.../b 1.1 keep-alive") + missing("GET /sub/ 1.1 keep-alive")
        + found("GET / 1.1 keep-alive", html, 12) + found("GET / 1.1 keep-alive", html, 12) + ["http: 7 requests"]
    ),
    ("post", "POST / HTTP/1.1\r\n\(host)\r\n", refused(405, "Method Not Allowed")),
    ("lower-case-method", "get / HTTP/1.1\r\n\(host)\r\n", refused(405, "Method Not Allowed")),
    ("bad-method", "G(T / HTTP/1.1\r\n\(host)\r\n", refused(400, "Bad Request")),
    ("http-2", "GET / HTTP/2.0\r\n\(host)\r\n", refused(505, "HTTP Version Not Supported")),
    ("http-0.9", "GET /\r\n\r\n", refused(400, "Bad Request")),
    ("double-space", "GET  / HTTP/1.1\r\n\(host)\r\n", refused(400, "Bad Request")),
    ("lower-case-version", "GET / http/1.1\r\n\(host)\r\n", refused(400, "Bad Request")),
    ("no-host", "GET / HTTP/1.1\r\n\r\n", refused(400, "Bad Request")),
    ("two-hosts", "GET / HTTP/1.1\r\n\(host)HOST: other\r\n\r\n", refused(400, "Bad Request")),
    ("folded", "GET / HTTP/1.1\r\n\(host)X-A: b\r\n  c\r\n\r\n", refused(400, "Bad Request")),
    ("space-before-colon", "GET / HTTP/1.1\r\nHost : example\r\n\r\n", refused(400, "Bad Request")),
    ("no-colon", "GET / HTTP/1.1\r\n\(host)nonsense\r\n\r\n", refused(400, "Bad Request")),
    ("empty-name", "GET / HTTP/1.1\r\n\(host): x\r\n\r\n", refused(400, "Bad Request")),
    (
      "chunked", "GET / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", refused(501, "Not Implemented")
    ),
    (
      "chunked-and-length", "GET / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
      refused(400, "Bad Request")
    ),
    ("bad-length", "GET / HTTP/1.1\r\n\(host)Content-Length: 1x\r\n\r\n", refused(400, "Bad Request")),
    (
      "two-lengths", "GET / HTTP/1.1\r\n\(host)Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      refused(400, "Bad Request")
    ),
    ("large-body", "GET / HTTP/1.1\r\n\(host)Content-Length: 65537\r\n\r\n", refused(413, "Content Too Large")),
    ("after-a-failure", "BAD\r\n\r\nGET / HTTP/1.1\r\n\(host)\r\n", refused(400, "Bad Request")),
    ("incomplete", "GET / HTTP/1.1\r\n\(host)", ["http: 0 requests, then an incomplete or refused one"]),
  ]

  /// Targets the path decoder must refuse with 400: traversal, raw or encoded, and bytes that have no place in a
  /// path.
  static let refusedTargets = [
    "/../x", "/a/..", "/a/../b", "/%2e%2e/x", "/%2E%2e/x", "/.%2e/x", "/a/%2e/b", "/a/.", "/a%2f..%2fb", "/a%00b",
    "/a%5cb", "/a%5Cb", "/a\\b", "/a#b", "/%zz", "/%4", "/a%", "/a%7fb", "/a%1fb", "/a\u{7f}b", "/a\tb", "/a\u{1}b",
    "x/y", "*", "http://", "http:///x",
  ]

  /// The stream cases plus one per refused target, each a file in the image.
  static var allCases: [(name: String, stream: [UInt8], lines: [String])] {
    var all = cases.map { ($0.name, Array($0.stream.utf8), $0.lines) }
    for (index, target) in refusedTargets.enumerated() {
      all.append(("target-\(index)", Array("GET \(target) HTTP/1.1\r\n\(host)\r\n".utf8), refused(400, "Bad Request")))
    }
    all.append(
      ("raw-byte", Array("GET /a".utf8) + [0x80] + Array("b HTTP/1.1\r\n\(host)\r\n".utf8), refused(400, "Bad Request"))
    )
    return all
  }

  @Test(
    "requests, refusals and response heads are the same whole and in pieces of 1, 7 and 100 bytes",
    arguments: [4096, 1, 7, 100])
  func streams(piece: Int) throws {
    guard Denalid.ready(guests: ["site-check"]) else { return }
    var files = Self.site
    for (name, stream, _) in Self.allCases { files["req/" + name] = stream }
    let site = try PackedSite(files)
    let result = try site.check(["http", "\(piece)"] + Self.allCases.map { "/req/" + $0.name })
    #expect(result.status == 0, "\(result.stderr)")
    let sections = Self.sections(result.stdout)
    for (name, _, lines) in Self.allCases {
      #expect(sections["/req/" + name] == lines, "\(name), pieces of \(piece)")
    }
  }

  /// Request-line, head and line-count limits, each at the limit (accepted) and one past it (refused).
  static var limitCases: [(name: String, stream: String, lines: [String])] {
    let longPath = "/" + String(repeating: "a", count: 1008)  // "GET " + path + " HTTP/1.1\r\n" = 1024 bytes
    let filler = "X: " + String(repeating: "b", count: 4096 - 16 - host.utf8.count - 7) + "\r\n"  // head of 4096 bytes
    let fields = String(repeating: "X: y\r\n", count: 61)  // with Host, 62 fields: 64 lines with the empty one
    return [
      (
        "line-at-limit", "GET \(longPath) HTTP/1.1\r\n\(host)\r\n",
        missing("GET \(longPath) 1.1 keep-alive") + ["http: 1 requests"]
      ),
      ("line-past-limit", "GET \(longPath)a HTTP/1.1\r\n\(host)\r\n", refused(414, "URI Too Long")),
      ("line-without-end", "GET \(longPath)\(String(repeating: "a", count: 20))", refused(414, "URI Too Long")),
      (
        "head-at-limit", "GET / HTTP/1.1\r\n\(host)\(filler)\r\n",
        found("GET / 1.1 keep-alive", html, 12) + ["http: 1 requests"]
      ),
      ("head-past-limit", "GET / HTTP/1.1\r\n\(host)b\(filler)\r\n", refused(431, "Request Header Fields Too Large")),
      (
        "lines-at-limit", "GET / HTTP/1.1\r\n\(host)\(fields)\r\n",
        found("GET / 1.1 keep-alive", html, 12) + ["http: 1 requests"]
      ),
      (
        "lines-past-limit", "GET / HTTP/1.1\r\n\(host)\(fields)X: y\r\n\r\n",
        refused(431, "Request Header Fields Too Large")
      ),
    ]
  }

  @Test(
    "limits: a request line of 1 KiB, a head of 4 KiB and 64 lines pass; one byte or line more is refused",
    arguments: [4096, 1, 100])
  func limits(piece: Int) throws {
    guard Denalid.ready(guests: ["site-check"]) else { return }
    var files = Self.site
    for (name, stream, _) in Self.limitCases { files["req/" + name] = Array(stream.utf8) }
    let site = try PackedSite(files)
    let result = try site.check(["http", "\(piece)"] + Self.limitCases.map { "/req/" + $0.name })
    #expect(result.status == 0)
    let sections = Self.sections(result.stdout)
    for (name, stream, lines) in Self.limitCases {
      #expect(sections["/req/" + name] == lines, "\(name) (\(stream.utf8.count) bytes), pieces of \(piece)")
    }
  }

  @Test("a response head is exactly its status line, fields and the empty line, each ending in CRLF")
  func responseBytes() throws {
    guard Denalid.ready(guests: ["site-check"]) else { return }
    var files = Self.site
    files["req"] = Array("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nOPTIONS * HTTP/1.1\r\n\r\n".utf8)
    let site = try PackedSite(files)
    let result = try site.check(["http", "4096", "/req"])
    #expect(
      result.stdout == "== /req\nrequest GET / 1.0 keep-alive\n"
        + "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n"
        + "failure 405\nHTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nAllow: GET, HEAD\r\nConnection: close\r\n\r\n"
        + "http: 1 requests, then an incomplete or refused one\n")
  }

  /// site-check's output split at its "== FILE" lines: each file's non-empty lines, CRs removed.
  static func sections(_ output: String) -> [String: [String]] {
    var sections: [String: [String]] = [:]
    var current = ""
    for line in output.replacingOccurrences(of: "\r", with: "").split(separator: "\n") {
      if line.hasPrefix("== ") {
        current = String(line.dropFirst(3))
        sections[current] = []
      } else {
        sections[current, default: []].append(String(line))
      }
    }
    return sections
  }
}
