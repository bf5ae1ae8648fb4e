// EndpointTests.swift: every endpoint of the control API answers as Docs/openapi.yaml says.
// Addresses here are only request and response fields of the recording backend: no VM, switch or packet exists.
import ControlAPI
import Foundation
import Synchronization
import Testing

@Suite("Control API endpoints")
struct EndpointTests {
  @Test("GET /v1/health: 200 while healthy and accepting, 503 when unhealthy or stopping")
  func health() throws {
    let server = try TestServer()
    var reply = try server.request("GET", "/v1/health")
    #expect(reply.status == 200)
    #expect(reply.headers["content-type"] == "application/json")
    #expect(try reply.decode(HealthResponse.self) == HealthResponse(status: "ok", accepting: true, detail: "ok"))
    server.backend.state.withLock { $0.healthy = false }
    reply = try server.request("GET", "/v1/health")
    #expect(reply.status == 503)
    #expect(try reply.decode(HealthResponse.self).status == "unhealthy")
    server.server.dispatcher.stopAccepting()
    reply = try server.request("GET", "/v1/health")
    #expect(
      try reply.decode(HealthResponse.self)
        == HealthResponse(status: "stopping", accepting: false, detail: "engine wedged"))
  }

  @Test("GET /v1/health names the daemon's version and commit (null when the build had none)")
  func healthVersion() throws {
    let built = try TestServer(version: DaemonVersion(version: "1.2.3", commit: "0123456789ab-dirty"))
    let reply = try built.request("GET", "/v1/health")
    #expect(reply.text.contains(#""version":"1.2.3""#), "\(reply.text)")
    #expect(reply.text.contains(#""commit":"0123456789ab-dirty""#), "\(reply.text)")
    let health = try reply.decode(HealthResponse.self)
    #expect(health.version == "1.2.3" && health.commit == "0123456789ab-dirty")
    let unknown = try TestServer().request("GET", "/v1/health")
    #expect(unknown.text.contains(#""commit":null"#), "\(unknown.text)")
    #expect(try unknown.decode(HealthResponse.self).commit == nil)
  }

  @Test("POST /v1/vms creates one VM with defaults; the engine gets the resolved image and its bytes")
  func createOne() throws {
    let server = try TestServer()
    let reply = try server.request("POST", "/v1/vms", json: #"{"image": "hello.elf"}"#)
    #expect(reply.status == 201)
    let created = try reply.decode(CreateVMsResponse.self)
    #expect(created.vms.count == 1)
    #expect(created.vms[0].image == server.images + "/hello.elf")
    #expect(created.vms[0].memoryBytes == 4 << 20)
    #expect(created.vms[0].name == nil)
    #expect(created.stopped == nil)
    #expect(
      server.backend.calls == [
        "create image=\(server.images)/hello.elf count=1 memory=4194304 disk=none names=none arguments="
      ])
  }

  @Test("POST /v1/vms with count, name, first_index, memory, disk and arguments")
  func createBatch() throws {
    let server = try TestServer()
    let body =
      #"{"image":"hello.elf","count":3,"name":"web","first_index":5,"memory":"8MiB","disk":{"size":"64KiB"},"arguments":["a","b c"]}"#
    let reply = try server.request("POST", "/v1/vms", json: body)
    #expect(reply.status == 201)
    let vms = try reply.decode(CreateVMsResponse.self).vms
    #expect(vms.map(\.name) == ["web-5", "web-6", "web-7"])
    #expect(vms.allSatisfy { $0.memoryBytes == 8 << 20 && $0.diskBytes == 65536 && $0.arguments == ["a", "b c"] })
    #expect(
      server.backend.calls.first?.hasSuffix("count=3 memory=8388608 disk=65536 names=web-5,web-6,web-7 arguments=a,b c")
        == true)
  }

  @Test("POST /v1/vms with network: the engine gets the NIC request; VMs carry their address and NIC counters")
  func createWithNetwork() throws {
    let server = try TestServer()
    var reply = try server.request("POST", "/v1/vms", json: #"{"image":"hello.elf","count":2,"network":{}}"#)
    #expect(reply.status == 201, "\(reply.text)")
    let vms = try reply.decode(CreateVMsResponse.self).vms
    #expect(vms.map(\.address) == ["10.0.0.2", "10.0.0.3"])
    #expect(vms[0].network?.mac == "02:00:0a:00:00:2" && vms[0].network?.drops == ["vm-to-vm-denied": 4])
    #expect(
      reply.text.contains(
        #""network":{"attached":true,"bytes_in":300,"bytes_out":200,"drops":{"vm-to-vm-denied":4},"mac":"#))
    reply = try server.request("POST", "/v1/vms", json: #"{"image":"hello.elf","network":{"address":"10.0.5.5"}}"#)
    #expect(reply.status == 201)
    #expect(try reply.decode(CreateVMsResponse.self).vms[0].address == "10.0.5.5")
    #expect(server.backend.calls[0].hasSuffix("arguments= network=auto"))
    #expect(server.backend.calls[1].hasSuffix("arguments= network=10.0.5.5"))
    // A VM without a NIC says so with nulls.
    reply = try server.request("POST", "/v1/vms", json: #"{"image":"hello.elf"}"#)
    #expect(reply.text.contains(#""address":null"#) && reply.text.contains(#""network":null"#), "\(reply.text)")
    // The metrics carry one series per VM with a NIC, labelled by VM.
    let metrics = try server.request("GET", "/v1/metrics").text
    #expect(
      metrics.contains(#"denali_vm_network_packets_total{vm="1",name="",address="10.0.0.2",direction="in"} 3"#),
      "\(metrics)")
    #expect(metrics.contains(#"denali_vm_network_bytes_total{vm="3",name="",address="10.0.5.5",direction="out"} 200"#))
    #expect(
      metrics.contains(#"denali_vm_network_drops_total{vm="2",name="",address="10.0.0.3",reason="vm-to-vm-denied"} 4"#))
    #expect(metrics.contains(#"denali_vm_network_queued_frames{vm="1",name="",address="10.0.0.2"} 1"#))
    #expect(!metrics.contains(#"vm="4""#), "the VM without a NIC has no network series")
  }

  @Test("An absolute image path inside an image directory, and a symbolic link that stays inside, are accepted")
  func absoluteAndInnerLink() throws {
    let server = try TestServer()
    try FileManager.default.createDirectory(atPath: server.images + "/sub", withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(
      atPath: server.images + "/sub/link.elf", withDestinationPath: "../hello.elf")
    #expect(try server.request("POST", "/v1/vms", json: #"{"image":"\#(server.images)/hello.elf"}"#).status == 201)
    let reply = try server.request("POST", "/v1/vms", json: #"{"image":"sub/link.elf"}"#)
    #expect(reply.status == 201)
    #expect(try reply.decode(CreateVMsResponse.self).vms[0].image == server.images + "/hello.elf")
  }

  @Test("GET /v1/vms lists every VM; GET /v1/vms/{vm} by id and by name")
  func listAndInspect() throws {
    let server = try TestServer()
    _ = try server.client.createVMs(CreateVMsBody(image: "hello.elf", count: 2, name: "db"))
    let list = try server.request("GET", "/v1/vms")
    #expect(list.status == 200)
    #expect(try list.decode(VMListResponse.self).vms.map(\.id) == [1, 2])
    let byID = try server.request("GET", "/v1/vms/2")
    #expect(byID.status == 200)
    #expect(try byID.decode(VMInfo.self).name == "db-2")
    #expect(try server.request("GET", "/v1/vms/db-1").decode(VMInfo.self).id == 1)
    #expect(server.backend.calls.suffix(3) == ["list", "inspect vm 2", "inspect vm \"db-1\""])
  }

  @Test("VM JSON carries the state with exit status or fault, times, and counters")
  func vmEncoding() throws {
    let info = VMInfo(
      id: 9, name: "x", image: "/i", state: .exited(status: 3), memoryBytes: 2 << 20, cpuTimeNanoseconds: 5,
      exits: ["io": 2], hypercalls: 1, createdAt: Date(timeIntervalSince1970: 0), restoredFrom: .swap)
    let json = String(decoding: ControlJSON.bytes(info), as: UTF8.self)
    #expect(
      json.contains(#""state":"exited""#) && json.contains(#""exit_status":3"#)
        && json.contains(#""restored_from":"swap""#))
    #expect(json.contains(#""created_at":"1970-01-01T00:00:00Z""#) && json.contains(#""started_at":null"#))
    #expect(try ControlJSON.decoder().decode(VMInfo.self, from: Data(json.utf8)) == info)
    var faulted = info
    faulted.state = .faulted(description: "#UD at 0x1000")
    let decoded = try ControlJSON.decoder().decode(VMInfo.self, from: Data(ControlJSON.bytes(faulted)))
    #expect(decoded.state == .faulted(description: "#UD at 0x1000"))
  }

  @Test("POST /v1/vms/{vm}/kill stops a VM; a second kill is 409")
  func kill() throws {
    let server = try TestServer()
    _ = try server.client.createVMs(CreateVMsBody(image: "hello.elf", name: "victim"))
    let reply = try server.request("POST", "/v1/vms/victim/kill")
    #expect(reply.status == 200)
    #expect(try reply.decode(VMInfo.self).state == .killed)
    let again = try server.request("POST", "/v1/vms/1/kill")
    #expect(again.status == 409)
    #expect(again.error?.code == "conflict")
  }

  @Test("GET /v1/vms/{vm}/console returns the kept output; tail is passed on")
  func consoleTail() throws {
    let server = try TestServer()
    _ = try server.client.createVMs(CreateVMsBody(image: "hello.elf"))
    server.backend.emit(1, "second line\n")
    let reply = try server.request("GET", "/v1/vms/1/console?tail=2")
    #expect(reply.status == 200)
    #expect(reply.headers["content-type"] == "text/plain")
    #expect(reply.text == "booted 1\nsecond line\n")
    #expect(server.backend.calls.last == "tail vm 1 2")
  }

  @Test("console?follow=true streams the tail, then new output, and ends when the VM ends")
  func consoleFollow() throws {
    let server = try TestServer()
    _ = try server.client.createVMs(CreateVMsBody(image: "hello.elf"))
    let received = Received()
    let client = server.client
    let follower = BackgroundThread {
      try client.followConsole("1", tail: 5) { received.append($0) }
    }
    waitUntil { server.backend.followerCount(1) == 1 }
    server.backend.emit(1, "tick 1\n")
    server.backend.emit(1, "tick 2\n")
    waitUntil { received.text.contains("tick 2") }
    _ = try server.client.killVM("1")
    try follower.value()
    #expect(received.text == "booted 1\ntick 1\ntick 2\n")
    #expect(server.backend.followerCount(1) == 0)
  }

  @Test("A follower that disconnects is unsubscribed")
  func followerDisconnects() throws {
    let server = try TestServer()
    _ = try server.client.createVMs(CreateVMsBody(image: "hello.elf"))
    do {
      let connection = try UnixConnection(path: server.socketPath)
      try connection.write(Array("GET /v1/vms/1/console?follow=true HTTP/1.1\r\nHost: t\r\n\r\n".utf8))
      _ = try connection.read()
      waitUntil { server.backend.followerCount(1) == 1 }
    }
    waitUntil { server.backend.followerCount(1) == 0 }
  }

  @Test("console follow of an unknown VM is a 404, not a stream")
  func followUnknown() throws {
    let server = try TestServer()
    let reply = try server.request("GET", "/v1/vms/42/console?follow=true")
    #expect(reply.status == 404)
    #expect(reply.error?.code == "vm_not_found")
  }

  @Test("GET /v1/stats reports the engine's figures with every state counted")
  func statistics() throws {
    let server = try TestServer()
    _ = try server.client.createVMs(CreateVMsBody(image: "hello.elf", count: 2))
    let reply = try server.request("GET", "/v1/stats")
    #expect(reply.status == 200)
    #expect(reply.text.contains(#""vms":{"exited":0,"#) && reply.text.contains(#""total":2"#))
    let stats = try reply.decode(DaemonStatistics.self)
    #expect(stats.vmsByState[.runnable] == 2 && stats.workers == 2 && stats.memoryBudgetBytes == 1 << 30)
  }

  @Test("GET /v1/metrics is Prometheus text with daemon figures and the API's request counter")
  func metrics() throws {
    let server = try TestServer()
    _ = try server.request("GET", "/v1/nope")
    _ = try server.request("GET", "/v1/stats")
    let reply = try server.request("GET", "/v1/metrics")
    #expect(reply.status == 200)
    #expect(reply.headers["content-type"] == "text/plain; version=0.0.4")
    #expect(reply.text.contains("# TYPE denali_vms gauge\n"))
    #expect(reply.text.contains("denali_vms{state=\"running\"} 0\n"))
    #expect(reply.text.contains("denali_exits_total 7\n"))
    #expect(reply.text.contains(#"denali_api_requests_total{route="stats",status="200"} 1"#))
    #expect(reply.text.contains(#"denali_api_requests_total{route="unrouted",status="404"} 1"#))
  }

  @Test("Keep-alive: several requests on one connection")
  func keepAlive() throws {
    let server = try TestServer()
    let request = "GET /v1/health HTTP/1.1\r\nHost: t\r\n\r\n"
    let bytes = try server.rawBytes(
      Array((request + request + "GET /v1/stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").utf8))
    let text = String(decoding: bytes, as: UTF8.self)
    #expect(text.components(separatedBy: "HTTP/1.1 200 OK").count == 4)
  }

  @Test("While stopping, requests that change state get 503; reads still work")
  func notAccepting() throws {
    let server = try TestServer()
    server.server.dispatcher.stopAccepting()
    let reply = try server.request("POST", "/v1/vms", json: #"{"image":"hello.elf"}"#)
    #expect(reply.status == 503)
    #expect(reply.error?.code == "not_accepting")
    #expect(try server.request("GET", "/v1/vms").status == 200)
    #expect(server.backend.calls == ["list"])
  }

  @Test("Engine refusals map to statuses: limit 409, host error 500, a batch cut short 201 with `stopped`")
  func backendErrors() throws {
    let server = try TestServer(backend: RecordingBackend(maximumVMs: 2))
    var reply = try server.request("POST", "/v1/vms", json: #"{"image":"hello.elf","count":3}"#)
    #expect(reply.status == 409)
    #expect(reply.error?.code == "limit_reached")
    server.backend.state.withLock { $0.createFailure = .hostError("KVM_CREATE_VM: out of memory") }
    reply = try server.request("POST", "/v1/vms", json: #"{"image":"hello.elf"}"#)
    #expect(reply.status == 500)
    #expect(reply.error == ErrorBody(code: "host_error", message: "KVM_CREATE_VM: out of memory"))
    server.backend.state.withLock { $0.createFailure = .invalid("not a valid guest image: bad ELF magic") }
    reply = try server.request("POST", "/v1/vms", json: #"{"image":"hello.elf"}"#)
    #expect(reply.status == 422)
    #expect(reply.error?.code == "unprocessable")
    let cut = CreateVMsResponse(vms: [], stopped: ControlError(.limitReached("full")).body)
    #expect(
      String(decoding: ControlJSON.bytes(cut), as: UTF8.self)
        == #"{"stopped":{"code":"limit_reached","message":"full"},"vms":[]}"# + "\n")
  }

  @Test("A duplicate name is a 409")
  func duplicateName() throws {
    let server = try TestServer()
    #expect(try server.request("POST", "/v1/vms", json: #"{"image":"hello.elf","name":"a"}"#).status == 201)
    let reply = try server.request("POST", "/v1/vms", json: #"{"image":"hello.elf","name":"a"}"#)
    #expect(reply.status == 409)
    #expect(reply.error?.message == "the name 'a' is already in use")
  }
}

/// Bytes received by a follower, shared with the test.
final class Received: Sendable {
  private let bytes = Mutex<[UInt8]>([])
  func append(_ more: [UInt8]) { bytes.withLock { $0 += more } }
  var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
}
