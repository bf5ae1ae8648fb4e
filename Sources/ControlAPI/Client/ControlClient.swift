// ControlClient.swift: a blocking client of the control API over its unix socket, one connection per request.
import Foundation

/// Talks to `denalid serve`: one request per connection (`Connection: close`), JSON in and out.
public struct ControlClient: Sendable {
  /// The daemon's socket.
  public let socketPath: String

  /// A client of the daemon listening on `socketPath`.
  public init(socketPath: String) { self.socketPath = socketPath }

  /// Sends one request and reads the whole response; with `onChunk`, a chunked body is streamed to it instead.
  public func send(
    _ method: String, _ target: String, json body: [UInt8]? = nil, onChunk: (([UInt8]) -> Void)? = nil
  ) throws(ControlClientError) -> HTTPReply {
    let connection = try UnixConnection(path: socketPath)
    var head = "\(method) \(target) HTTP/1.1\r\nHost: denalid\r\nConnection: close\r\n"
    if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
    head += "\r\n"
    try connection.write(Array(head.utf8) + (body ?? []))
    var reader = HTTPReplyReader(connection: connection)
    return try reader.read(onChunk: onChunk)
  }

  /// Sends a request and decodes a 2xx JSON answer as `T`; an error answer throws `.refused`.
  public func call<T: Decodable>(
    _ method: String, _ target: String, body: (some Encodable)? = nil as Int?, as type: T.Type
  ) throws(ControlClientError) -> T {
    var bytes: [UInt8]?
    if let body {
      do {
        bytes = Array(try ControlJSON.encoder().encode(body))
      } catch {
        throw .malformedResponse("cannot encode the request: \(error)")
      }
    }
    let reply = try send(method, target, json: bytes)
    try Self.check(reply)
    do {
      return try ControlJSON.decoder().decode(T.self, from: Data(reply.body))
    } catch {
      throw .malformedResponse("cannot decode \(T.self): \(error)")
    }
  }

  /// Throws `.refused` for a non-2xx reply, with the daemon's error body when it sent one.
  public static func check(_ reply: HTTPReply) throws(ControlClientError) {
    guard !(200..<300).contains(reply.status) else { return }
    let body =
      (try? JSONDecoder().decode(ErrorBody.self, from: Data(reply.body)))
      ?? ErrorBody(code: "http_\(reply.status)", message: String(decoding: reply.body.prefix(200), as: UTF8.self))
    throw .refused(status: reply.status, body)
  }

  /// `POST /v1/vms`.
  public func createVMs(_ body: CreateVMsBody) throws(ControlClientError) -> CreateVMsResponse {
    try call("POST", "/v1/vms", body: body, as: CreateVMsResponse.self)
  }

  /// `GET /v1/vms`.
  public func listVMs() throws(ControlClientError) -> [VMInfo] {
    try call("GET", "/v1/vms", as: VMListResponse.self).vms
  }

  /// `GET /v1/vms/{vm}`.
  public func inspectVM(_ vm: String) throws(ControlClientError) -> VMInfo {
    try call("GET", "/v1/vms/\(try Self.segment(vm))", as: VMInfo.self)
  }

  /// `POST /v1/vms/{vm}/kill`.
  public func killVM(_ vm: String) throws(ControlClientError) -> VMInfo {
    try call("POST", "/v1/vms/\(try Self.segment(vm))/kill", as: VMInfo.self)
  }

  /// `GET /v1/vms/{vm}/console?tail=N`: the last lines kept.
  public func consoleTail(_ vm: String, lines: Int) throws(ControlClientError) -> [UInt8] {
    let reply = try send("GET", "/v1/vms/\(try Self.segment(vm))/console?tail=\(lines)")
    try Self.check(reply)
    return reply.body
  }

  /// `GET /v1/vms/{vm}/console?tail=N&follow=true`: calls `onOutput` until the VM finishes.
  public func followConsole(_ vm: String, tail: Int, onOutput: @escaping ([UInt8]) -> Void) throws(ControlClientError) {
    let reply = try send("GET", "/v1/vms/\(try Self.segment(vm))/console?tail=\(tail)&follow=true", onChunk: onOutput)
    try Self.check(reply)
  }

  /// `GET /v1/stats`.
  public func statistics() throws(ControlClientError) -> DaemonStatistics {
    try call("GET", "/v1/stats", as: DaemonStatistics.self)
  }

  /// `GET /v1/health` (a 503 answer still decodes: it says why).
  public func health() throws(ControlClientError) -> (status: Int, HealthResponse) {
    let reply = try send("GET", "/v1/health")
    do {
      return (reply.status, try JSONDecoder().decode(HealthResponse.self, from: Data(reply.body)))
    } catch {
      try Self.check(reply)
      throw .malformedResponse("cannot decode the health answer")
    }
  }

  /// `vm` checked as an id or a name, so it can go into a path as is.
  static func segment(_ vm: String) throws(ControlClientError) -> String {
    guard VMReference(vm) != nil else {
      throw .refused(
        status: 404,
        ErrorBody(code: "vm_not_found", message: "'\(vm)' is neither a VM id nor a valid VM name"))
    }
    return vm
  }
}
