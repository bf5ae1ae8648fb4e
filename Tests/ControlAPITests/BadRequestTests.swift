// BadRequestTests.swift: every kind of bad request gets a 4xx with a JSON error saying what is wrong, and never
// reaches the engine.
// Addresses here are only request fields for the test server's recording backend: no VM, switch or packet exists.
import ControlAPI
import Foundation
import Glibc
import Testing

@Suite("Bad requests")
struct BadRequestTests {
  /// Sends a create body and checks status, code and that the message contains `message`; nothing reaches the engine.
  func refuseCreate(
    _ server: TestServer, _ json: String, status: Int, code: String, message: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let reply = try server.request("POST", "/v1/vms", json: json)
    #expect(reply.status == status, "\(reply.text)", sourceLocation: sourceLocation)
    #expect(reply.headers["content-type"] == "application/json", sourceLocation: sourceLocation)
    #expect(reply.error?.code == code, "\(reply.text)", sourceLocation: sourceLocation)
    #expect(reply.error?.message.contains(message) == true, "\(reply.text)", sourceLocation: sourceLocation)
    #expect(server.backend.calls.isEmpty, sourceLocation: sourceLocation)
  }

  @Test("Unknown fields are refused, at the top level and inside disk")
  func unknownField() throws {
    let server = try TestServer()
    try refuseCreate(
      server, #"{"image":"hello.elf","memroy":"4MiB"}"#, status: 422, code: "unknown_field",
      message: "unknown field 'memroy' (known fields: arguments, count")
    try refuseCreate(
      server, #"{"image":"hello.elf","disk":{"size":"4KiB","path":"/etc/shadow"}}"#, status: 422, code: "unknown_field",
      message: "unknown field 'disk.path'")
  }

  @Test("A network address must be a dotted quad, for one VM; unknown fields and nulls inside network are refused")
  func networkBody() throws {
    let server = try TestServer()
    try refuseCreate(
      server, #"{"image":"hello.elf","count":2,"network":{"address":"10.0.5.5"}}"#, status: 422, code: "invalid_field",
      message: "field 'network.address' names one VM's address: it needs a count of 1, not 2")
    for bad in ["10.0.5", "10.0.5.5.5", "10.0.x.5", "1000.0.0.1", "", "10..0.1"] {
      try refuseCreate(
        server, #"{"image":"hello.elf","network":{"address":"\#(bad)"}}"#, status: 422, code: "invalid_field",
        message: "field 'network.address' must be an IPv4 address")
    }
    try refuseCreate(
      server, #"{"image":"hello.elf","network":{"mac":"02:00:00:00:00:01"}}"#, status: 422, code: "unknown_field",
      message: "unknown field 'network.mac'")
    try refuseCreate(
      server, #"{"image":"hello.elf","network":{"address":null}}"#, status: 422, code: "invalid_field",
      message: "field 'network.address' must not be null")
    try refuseCreate(
      server, #"{"image":"hello.elf","network":true}"#, status: 422, code: "invalid_field",
      message: "field 'network' must be")
  }

  @Test("Wrong types and nulls name the field")
  func wrongType() throws {
    let server = try TestServer()
    try refuseCreate(
      server, #"{"image":"hello.elf","count":"2"}"#, status: 422, code: "invalid_field",
      message: "field 'count' must be an integer")
    try refuseCreate(
      server, #"{"image":7}"#, status: 422, code: "invalid_field", message: "field 'image' must be a string")
    try refuseCreate(
      server, #"{"image":"hello.elf","arguments":["a",1]}"#, status: 422, code: "invalid_field",
      message: "field 'arguments[1]' must be a string")
    try refuseCreate(
      server, #"{"image":"hello.elf","count":1.5}"#, status: 422, code: "invalid_field", message: "field 'count'")
    try refuseCreate(
      server, #"{"image":"hello.elf","name":null}"#, status: 422, code: "invalid_field",
      message: "field 'name' must not be null")
    try refuseCreate(
      server, #"{"image":"hello.elf","disk":"4KiB"}"#, status: 422, code: "invalid_field",
      message: "field 'disk' must be")
  }

  @Test("A missing image, a JSON value that is not an object, and an empty body")
  func shape() throws {
    let server = try TestServer()
    try refuseCreate(
      server, #"{"count":1}"#, status: 422, code: "missing_field", message: "missing required field 'image'")
    try refuseCreate(
      server, #"["hello.elf"]"#, status: 422, code: "invalid_body", message: "the body must be a JSON object")
    try refuseCreate(server, "", status: 422, code: "invalid_body", message: "needs a JSON body")
  }

  @Test("Malformed JSON is a 400")
  func malformedJSON() throws {
    let server = try TestServer()
    try refuseCreate(server, #"{"image": "hello.elf""#, status: 400, code: "malformed_json", message: "not valid JSON")
    try refuseCreate(server, "\u{FF}\u{FE}", status: 400, code: "malformed_json", message: "not valid JSON")
  }

  @Test("Bad memory sizes, memory over the limit, disks, counts over the limit")
  func bounds() throws {
    let server = try TestServer(
      limits: ControlLimits(maximumMemoryPerVM: 64 << 20, maximumDiskPerVM: 1 << 20, maximumVMsPerRequest: 100))
    try refuseCreate(
      server, #"{"image":"hello.elf","memory":"lots"}"#, status: 422, code: "invalid_field",
      message: "field 'memory' must be a size such as \"4MiB\"")
    try refuseCreate(
      server, #"{"image":"hello.elf","memory":"3MiB"}"#, status: 422, code: "invalid_field",
      message: "must be a positive multiple of 2MiB, not 3MiB")
    try refuseCreate(
      server, #"{"image":"hello.elf","memory":"0"}"#, status: 422, code: "invalid_field",
      message: "positive multiple of 2MiB")
    try refuseCreate(
      server, #"{"image":"hello.elf","memory":"99999999999999999999GiB"}"#, status: 422, code: "invalid_field",
      message: "must be a size")
    try refuseCreate(
      server, #"{"image":"hello.elf","memory":"128MiB"}"#, status: 422, code: "invalid_field",
      message: "128MiB is over this daemon's limit of 64MiB")
    try refuseCreate(
      server, #"{"image":"hello.elf","disk":{"size":"1000B"}}"#, status: 422, code: "invalid_field",
      message: "field 'disk.size' must be a positive multiple of 4KiB")
    try refuseCreate(
      server, #"{"image":"hello.elf","disk":{"size":"2MiB"}}"#, status: 422, code: "invalid_field",
      message: "over this daemon's limit of 1MiB")
    try refuseCreate(
      server, #"{"image":"hello.elf","count":101}"#, status: 422, code: "invalid_field",
      message: "field 'count' must be between 1 and 100, not 101")
    try refuseCreate(
      server, #"{"image":"hello.elf","count":0}"#, status: 422, code: "invalid_field",
      message: "between 1 and 100, not 0")
    try refuseCreate(
      server, #"{"image":"hello.elf","count":-5}"#, status: 422, code: "invalid_field", message: "not -5")
  }

  @Test("Names and arguments are checked")
  func namesAndArguments() throws {
    let server = try TestServer()
    try refuseCreate(
      server, #"{"image":"hello.elf","name":"1abc"}"#, status: 422, code: "invalid_field",
      message: "field 'name' must be 1-63 characters")
    try refuseCreate(
      server, #"{"image":"hello.elf","name":"a/b"}"#, status: 422, code: "invalid_field", message: "field 'name'")
    try refuseCreate(
      server, #"{"image":"hello.elf","first_index":3}"#, status: 422, code: "invalid_field",
      message: "field 'first_index' needs 'name'")
    let long = String(repeating: "x", count: 60)
    try refuseCreate(
      server, #"{"image":"hello.elf","name":"\#(long)","count":1000}"#, status: 422, code: "invalid_field",
      message: "longer than 63 characters")
    try refuseCreate(
      server, #"{"image":"hello.elf","arguments":["a\u0000b"]}"#, status: 422, code: "invalid_field",
      message: "field 'arguments[0]' contains a NUL byte")
    let big = String(repeating: "y", count: 5000)
    try refuseCreate(
      server, #"{"image":"hello.elf","arguments":["\#(big)"]}"#, status: 422, code: "invalid_field",
      message: "at most 4048")
  }

  @Test("Path traversal, symbolic links out of the image directory, non-regular files, missing images")
  func images() throws {
    let server = try TestServer()
    try refuseCreate(
      server, #"{"image":"../hello.elf"}"#, status: 422, code: "image_refused",
      message: "'..' is not allowed in image paths (path traversal)")
    try refuseCreate(
      server, #"{"image":"sub/../../etc/passwd"}"#, status: 422, code: "image_refused", message: "path traversal")
    try refuseCreate(
      server, #"{"image":"/etc/passwd"}"#, status: 422, code: "image_refused", message: "outside the image directories")
    try FileManager.default.createSymbolicLink(
      atPath: server.images + "/escape.elf", withDestinationPath: "/etc/passwd")
    try refuseCreate(
      server, #"{"image":"escape.elf"}"#, status: 422, code: "image_refused",
      message: "resolves to /etc/passwd, outside the image directories")
    try FileManager.default.createSymbolicLink(atPath: server.images + "/up", withDestinationPath: server.directory)
    try refuseCreate(
      server, #"{"image":"up/api.sock"}"#, status: 422, code: "image_refused", message: "outside the image directories")
    try FileManager.default.createDirectory(atPath: server.images + "/dir.elf", withIntermediateDirectories: true)
    try refuseCreate(
      server, #"{"image":"dir.elf"}"#, status: 422, code: "image_refused", message: "is not a regular file")
    #expect(mkfifo(server.images + "/fifo.elf", 0o600) == 0)
    try refuseCreate(
      server, #"{"image":"fifo.elf"}"#, status: 422, code: "image_refused", message: "is not a regular file")
    try refuseCreate(
      server, #"{"image":"missing.elf"}"#, status: 422, code: "image_refused",
      message: "was not found in the image directories")
    try refuseCreate(
      server, #"{"image":""}"#, status: 422, code: "invalid_field", message: "field 'image' must not be empty")
  }

  @Test(
    "A read-only disk image: inside an image directory like an image, a whole number of 4 KiB blocks, not with a size")
  func diskImages() throws {
    let server = try TestServer()
    try Data(repeating: 7, count: 6000).write(to: URL(fileURLWithPath: server.images + "/odd.img"))
    try Data().write(to: URL(fileURLWithPath: server.images + "/empty.img"))
    try Data(repeating: 7, count: 8192).write(to: URL(fileURLWithPath: server.images + "/site.img"))
    try refuseCreate(
      server, #"{"image":"hello.elf","disk":{"image":"../site.img"}}"#, status: 422, code: "image_refused",
      message: "disk.image '../site.img': '..' is not allowed")
    try refuseCreate(
      server, #"{"image":"hello.elf","disk":{"image":"/etc/passwd"}}"#, status: 422, code: "image_refused",
      message: "outside the image directories")
    try FileManager.default.createSymbolicLink(
      atPath: server.images + "/shadow.img", withDestinationPath: "/etc/shadow")
    try refuseCreate(
      server, #"{"image":"hello.elf","disk":{"image":"shadow.img"}}"#, status: 422, code: "image_refused",
      message: "resolves to /etc/shadow, outside the image directories")
    try refuseCreate(
      server, #"{"image":"hello.elf","disk":{"image":"missing.img"}}"#, status: 422, code: "image_refused",
      message: "disk.image 'missing.img' was not found")
    try refuseCreate(
      server, #"{"image":"hello.elf","disk":{"image":"odd.img"}}"#, status: 422, code: "invalid_field",
      message: "field 'disk.image' 'odd.img' has 6000 bytes")
    try refuseCreate(
      server, #"{"image":"hello.elf","disk":{"image":"empty.img"}}"#, status: 422, code: "invalid_field",
      message: "non-zero multiple of 4KiB")
    try refuseCreate(
      server, #"{"image":"hello.elf","disk":{"image":""}}"#, status: 422, code: "invalid_field",
      message: "field 'disk.image' must not be empty")
    try refuseCreate(
      server, #"{"image":"hello.elf","disk":{"image":"site.img","size":"4KiB"}}"#, status: 422, code: "invalid_field",
      message: "not both")
    try refuseCreate(
      server, #"{"image":"hello.elf","disk":{}}"#, status: 422, code: "missing_field", message: "disk.size")
    try refuseCreate(
      server, #"{"image":"hello.elf","disk":{"image":null}}"#, status: 422, code: "invalid_field", message: "disk.image"
    )
    // Accepted: the backend gets the canonical path and the bytes, read once.
    let reply = try server.request(
      "POST", "/v1/vms", json: #"{"image":"hello.elf","count":2,"disk":{"image":"site.img"}}"#)
    #expect(reply.status == 201, "\(reply.text)")
    #expect(
      server.backend.calls == [
        "create image=\(server.images)/hello.elf count=2 memory=4194304 disk=none names=none arguments= disk-image=\(server.images)/site.img (8192 bytes)"
      ])
    #expect(reply.text.contains(#""disk_image":"\#(server.images)/site.img""#), "\(reply.text)")
    #expect(reply.text.contains(#""disk_bytes":8192"#), "\(reply.text)")
  }

  @Test("Bodies over the limit get 413, by Content-Length or as they arrive (chunked)")
  func bodyTooLarge() throws {
    let server = try TestServer(limits: ControlLimits(maximumBodyBytes: 1024))
    let big = #"{"image":"hello.elf","arguments":[""# + String(repeating: "z", count: 2000) + #""]}"#
    try refuseCreate(server, big, status: 413, code: "body_too_large", message: "larger than the limit of 1024 bytes")
    var chunked =
      "POST /v1/vms HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    for _ in 0..<3 { chunked += "200\r\n" + String(repeating: " ", count: 512) + "\r\n" }
    chunked += "0\r\n\r\n"
    let reply = try server.raw(chunked)
    #expect(reply.status == 413)
    #expect(reply.headers["connection"] == "close")
    #expect(server.backend.calls.isEmpty)
  }

  @Test("A body that is not application/json gets 415; a missing content type too")
  func contentType() throws {
    let server = try TestServer()
    let reply = try server.request("POST", "/v1/vms", json: #"{"image":"hello.elf"}"#, contentType: "text/plain")
    #expect(reply.status == 415)
    #expect(reply.error?.message == "the body must be application/json, not 'text/plain'")
    let bare = try server.raw("POST /v1/vms HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    #expect(bare.status == 415)
    #expect(
      try server.request(
        "POST", "/v1/vms", json: #"{"image":"hello.elf"}"#, contentType: "application/json; charset=utf-8"
      ).status == 201)
  }

  @Test("Unknown routes are 404; unknown VMs are 404")
  func notFound() throws {
    let server = try TestServer()
    for path in ["/", "/v1", "/v1/", "/v2/vms", "/v1/vms/", "/v1/vms/1/console/x", "/v1/vmsx", "/v1//vms"] {
      let reply = try server.request("GET", path)
      #expect(reply.status == 404, "\(path)")
      #expect(reply.error?.code == "route_not_found", "\(path)")
    }
    for path in [
      "/v1/vms/7", "/v1/vms/ghost", "/v1/vms/7/console", "/v1/vms/%2e%2e", "/v1/vms/99999999999999999999999",
    ] {
      let reply = try server.request("GET", path)
      #expect(reply.status == 404, "\(path)")
      #expect(reply.error?.code == "vm_not_found", "\(path)")
    }
    #expect(try server.request("POST", "/v1/vms/7/kill").status == 404)
  }

  @Test("A method the route does not take is 405 with Allow")
  func methodNotAllowed() throws {
    let server = try TestServer()
    let cases: [(String, String, String)] = [
      ("PUT", "/v1/vms", "GET, POST"), ("DELETE", "/v1/vms/1", "GET"), ("GET", "/v1/vms/1/kill", "POST"),
      ("POST", "/v1/stats", "GET"), ("PATCH", "/v1/health", "GET"), ("HEAD", "/v1/metrics", "GET"),
    ]
    for (method, path, allowed) in cases {
      let reply = try server.request(method, path)
      #expect(reply.status == 405, "\(method) \(path)")
      #expect(reply.headers["allow"] == allowed, "\(method) \(path)")
      #expect(method == "HEAD" || reply.error?.code == "method_not_allowed")
    }
  }

  @Test("Bad query parameters and bodies where none is taken are 400")
  func queriesAndBodies() throws {
    let server = try TestServer()
    _ = try server.client.createVMs(CreateVMsBody(image: "hello.elf"))
    let cases: [(String, String)] = [
      ("/v1/vms/1/console?tail=-1", "'tail' must be a whole number from 0 to 10000"),
      ("/v1/vms/1/console?tail=abc", "'tail'"), ("/v1/vms/1/console?tail=10001", "'tail'"),
      ("/v1/vms/1/console?follow=maybe", "'follow' must be true or false"),
      ("/v1/vms/1/console?lines=3", "unknown query parameter 'lines'"),
      ("/v1/vms/1/console?tail=1&tail=2", "given more than once"), ("/v1/vms?all=1", "takes none"),
    ]
    for (target, message) in cases {
      let reply = try server.request("GET", target)
      #expect(reply.status == 400, "\(target)")
      #expect(reply.error?.code == "invalid_query", "\(target)")
      #expect(reply.error?.message.contains(message) == true, "\(target): \(reply.text)")
    }
    let withBody = try server.request("GET", "/v1/vms", json: "{}")
    #expect(withBody.status == 400)
    #expect(withBody.error?.code == "unexpected_body")
    let killWithBody = try server.request("POST", "/v1/vms/1/kill", json: #"{"force":true}"#)
    #expect(killWithBody.status == 400)
    #expect(
      server.backend.calls == [
        "create image=\(server.images)/hello.elf count=1 memory=4194304 disk=none names=none arguments="
      ])
  }

  @Test("Malformed HTTP gets a 400 JSON error and the connection is closed; the server goes on")
  func malformedHTTP() throws {
    let server = try TestServer()
    for garbage in [
      "GARBAGE\r\n\r\n", "GET /v1/health HTTP/9.9\r\n\r\n", "GET /v1/health HTTP/1.1\r\nBad Header\r\n\r\n",
      "POST /v1/vms HTTP/1.1\r\nContent-Length: x\r\n\r\n", "\u{0}\u{1}\u{2}\r\n\r\n",
    ] {
      let reply = try server.raw(garbage)
      #expect(reply.status == 400, "\(garbage.debugDescription)")
      #expect(reply.error?.code == "malformed_http", "\(garbage.debugDescription)")
      #expect(reply.headers["connection"] == "close")
    }
    // A client that hangs up mid-request does not disturb the server.
    do {
      let connection = try UnixConnection(path: server.socketPath)
      try connection.write(
        Array("POST /v1/vms HTTP/1.1\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{\"im".utf8))
      connection.finishWriting()
      _ = try connection.read()
    }
    #expect(try server.request("GET", "/v1/health").status == 200)
    #expect(server.backend.calls.isEmpty)
  }
}
