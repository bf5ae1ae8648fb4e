// HTTPReply.swift: reads one HTTP/1.1 response (Content-Length or chunked) from a UnixConnection.

/// A response as the client read it.
public struct HTTPReply: Sendable {
  /// Status code.
  public var status: Int
  /// Header fields, names lowercased.
  public var headers: [String: String]
  /// The body (empty for a streamed response: its chunks went to the handler).
  public var body: [UInt8]

  /// A reply with these parts.
  public init(status: Int, headers: [String: String], body: [UInt8]) {
    self.status = status
    self.headers = headers
    self.body = body
  }
}

/// Incremental reader of one response.
struct HTTPReplyReader {
  private let connection: UnixConnection
  private var buffer: [UInt8] = []
  private var position = 0
  /// Largest head or non-streamed body accepted.
  static let maximumHead = 64 << 10, maximumBody = 512 << 20

  init(connection: UnixConnection) { self.connection = connection }

  /// Reads the whole response; a chunked body is passed chunk by chunk to `onChunk` when given, else kept.
  mutating func read(onChunk: (([UInt8]) -> Void)? = nil) throws(ControlClientError) -> HTTPReply {
    var (status, headers) = try readHead()
    while status == 100 { (status, headers) = try readHead() }
    var body: [UInt8] = []
    if headers["transfer-encoding"]?.lowercased() == "chunked" {
      while true {
        let sizeLine = try readLine()
        let sizeText = sizeLine.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        guard let size = Int(sizeText.trimmingSpaces, radix: 16), size >= 0, size <= Self.maximumBody else {
          throw .malformedResponse("bad chunk size '\(sizeLine)'")
        }
        if size == 0 {
          while try !readLine().isEmpty {}
          break
        }
        let chunk = try readBytes(size)
        guard try readLine().isEmpty else { throw .malformedResponse("chunk not followed by CRLF") }
        if let onChunk {
          onChunk(chunk)
        } else {
          body += chunk
          guard body.count <= Self.maximumBody else { throw .malformedResponse("body too large") }
        }
      }
    } else if let lengthText = headers["content-length"] {
      guard let length = Int(lengthText), length >= 0, length <= Self.maximumBody else {
        throw .malformedResponse("bad Content-Length '\(lengthText)'")
      }
      body = try readBytes(length)
    } else {
      while true {
        let more = try take()
        if more.isEmpty { break }
        body += more
        guard body.count <= Self.maximumBody else { throw .malformedResponse("body too large") }
      }
    }
    return HTTPReply(status: status, headers: headers, body: body)
  }

  private mutating func readHead() throws(ControlClientError) -> (Int, [String: String]) {
    let statusLine = try readLine(endOfStreamIsClosed: true)
    let parts = statusLine.split(separator: " ", maxSplits: 2)
    guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
      throw .malformedResponse("bad status line '\(statusLine)'")
    }
    var headers: [String: String] = [:]
    while true {
      let line = try readLine()
      if line.isEmpty { break }
      guard let colon = line.firstIndex(of: ":") else { throw .malformedResponse("bad header line '\(line)'") }
      headers[line[..<colon].lowercased()] = String(line[line.index(after: colon)...]).trimmingSpaces
    }
    return (status, headers)
  }

  /// One line without its CRLF.
  private mutating func readLine(endOfStreamIsClosed: Bool = false) throws(ControlClientError) -> String {
    var offset = 0  // relative to `position`, which `fill()` may move
    while true {
      while position + offset + 1 < buffer.count {
        let index = position + offset
        if buffer[index] == 0x0D && buffer[index + 1] == 0x0A {
          let line = String(decoding: buffer[position..<index], as: UTF8.self)
          position = index + 2
          return line
        }
        offset += 1
      }
      guard buffer.count - position <= Self.maximumHead else { throw .malformedResponse("line too long") }
      guard try fill() else {
        if endOfStreamIsClosed && buffer.count == position { throw .closedByDaemon(path: connection.path) }
        throw .malformedResponse("connection closed in the middle of the response")
      }
    }
  }

  private mutating func readBytes(_ count: Int) throws(ControlClientError) -> [UInt8] {
    while buffer.count - position < count {
      guard try fill() else { throw .malformedResponse("connection closed in the middle of the body") }
    }
    let bytes = Array(buffer[position..<(position + count)])
    position += count
    return bytes
  }

  /// Whatever is buffered, or the next read.
  private mutating func take() throws(ControlClientError) -> [UInt8] {
    if position < buffer.count {
      let bytes = Array(buffer[position...])
      position = buffer.count
      return bytes
    }
    return try connection.read()
  }

  /// Reads more into the buffer (dropping what was consumed); false at end of stream.
  private mutating func fill() throws(ControlClientError) -> Bool {
    if position > 0 {
      buffer.removeFirst(position)
      position = 0
    }
    let more = try connection.read()
    if more.isEmpty { return false }
    buffer += more
    return true
  }
}

extension String {
  /// Without leading and trailing spaces and tabs.
  var trimmingSpaces: String {
    var text = Substring(self)
    while text.first == " " || text.first == "\t" { text = text.dropFirst() }
    while text.last == " " || text.last == "\t" { text = text.dropLast() }
    return String(text)
  }
}
