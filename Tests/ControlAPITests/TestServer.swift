// TestServer.swift: a ControlServer on a private socket over a RecordingBackend, plus raw HTTP helpers.
import ControlAPI
import Foundation
import Glibc
import Logging
import Testing

/// A running server in a fresh temporary directory holding `images/` (with `hello.elf`) and `api.sock`.
final class TestServer {
  let directory: String
  let images: String
  let socketPath: String
  let backend: RecordingBackend
  let server: ControlServer

  init(
    limits: ControlLimits = ControlLimits(), policy: PeerPolicy = PeerPolicy(groupID: nil),
    backend: RecordingBackend = RecordingBackend(), version: DaemonVersion = .unknown
  ) throws {
    var template = Array("/tmp/denali-api-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
    directory = String(cString: made)
    images = directory + "/images"
    socketPath = directory + "/api.sock"
    try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
    try Data("\u{7F}ELF not really\n".utf8).write(to: URL(fileURLWithPath: images + "/hello.elf"))
    self.backend = backend
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    server = ControlServer(
      backend: backend,
      configuration: .init(limits: limits, imageDirectories: [images], peerPolicy: policy, version: version),
      logger: logger)
    try server.start(on: ControlSocket.create(path: socketPath, groupID: nil))
  }

  deinit {
    server.stop()
    try? FileManager.default.removeItem(atPath: directory)
  }

  var client: ControlClient { ControlClient(socketPath: socketPath) }

  /// Sends `method target` with an optional JSON body; returns the reply.
  func request(_ method: String, _ target: String, json: String? = nil, contentType: String = "application/json")
    throws -> HTTPReply
  {
    var head = "\(method) \(target) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
    if let json { head += "Content-Type: \(contentType)\r\nContent-Length: \(json.utf8.count)\r\n" }
    return try raw(head + "\r\n" + (json ?? ""))
  }

  /// Sends `text` as is and parses the reply.
  func raw(_ text: String) throws -> HTTPReply {
    let bytes = try rawBytes(Array(text.utf8))
    return try TestServer.parse(bytes)
  }

  /// Sends bytes as is and returns everything the server sends until it closes.
  func rawBytes(_ bytes: [UInt8]) throws -> [UInt8] {
    let connection = try UnixConnection(path: socketPath)
    try connection.write(bytes)
    var reply: [UInt8] = []
    while true {
      let more = try connection.read()
      if more.isEmpty { break }
      reply += more
    }
    return reply
  }

  /// Parses one complete response with Content-Length.
  static func parse(_ bytes: [UInt8]) throws -> HTTPReply {
    let text = String(decoding: bytes, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { throw POSIXError(.EBADMSG) }
    let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
    let status = Int(lines[0].split(separator: " ")[1]) ?? 0
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
      let parts = line.split(separator: ":", maxSplits: 1)
      headers[parts[0].lowercased()] = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
    }
    return HTTPReply(status: status, headers: headers, body: Array(text[split.upperBound...].utf8))
  }
}

extension HTTPReply {
  /// The body as text.
  var text: String { String(decoding: body, as: UTF8.self) }

  /// The error body, if the body is one.
  var error: ErrorBody? { try? JSONDecoder().decode(ErrorBody.self, from: Data(body)) }

  /// The body decoded as `T`.
  func decode<T: Decodable>(_ type: T.Type) throws -> T { try ControlJSON.decoder().decode(T.self, from: Data(body)) }
}
