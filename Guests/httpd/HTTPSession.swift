// HTTPSession.swift: one HTTP/1.1 connection of httpd: requests parsed as bytes arrive, one response at a time
// (pipelined requests wait in the receive buffer), the body streamed into the send buffer as room appears,
// keep-alive or a lingering close.
import Ilwaco

/// The state of one connection.
final class HTTPSession {
  let connection: TCPConnection
  unowned(unsafe) let server: HTTPServer
  let parser: HTTPRequestParser
  /// The response head being sent, and how much of it is in the send buffer.
  private let head: UnsafeMutableRawPointer
  private var headLength = 0
  private var headSent = 0
  /// The body being sent: the resource, the next offset, and the bytes still to go.
  private var body: Resource?
  private var offset: UInt64 = 0
  private var remaining: UInt64 = 0
  /// Close once the current response is queued (Connection: close, HTTP/1.0, or a refused request).
  private var closeAfterResponse = false
  /// The sending side is shut: reading and dropping until the client closes (a lingering close).
  private var draining = false
  /// Monotonic time of the last event, for the idle timeout.
  private(set) var lastActivity: UInt64

  init(connection: TCPConnection, server: HTTPServer) {
    self.connection = connection
    self.server = server
    parser = HTTPRequestParser(limits: server.limits)
    head = .allocate(byteCount: HTTPResponseHead.maximumLength, alignment: 8)
    lastActivity = Clock.monotonicNanoseconds
  }

  deinit { head.deallocate() }

  /// Handles an event of the connection.
  func handle(_ event: TCPEvent) {
    lastActivity = Clock.monotonicNanoseconds
    if case .closed = event {
      server.finished(self)
      return
    }
    pump()
  }

  /// Makes all the progress possible now: sends what fits, then parses the next request, until it must wait
  /// for the client (bytes, or room in the send buffer).
  private func pump() {
    while true {
      if draining {
        connection.consume(connection.readableBytes)
        if connection.isReadClosed { end() }
        return
      }
      if headSent < headLength || remaining > 0 {
        guard send() else { return }  // the send buffer is full: `.writable` follows
        server.responseQueued()
        continue
      }
      if closeAfterResponse {
        connection.shutdown()
        draining = true
        continue
      }
      let bytes = connection.peek()
      guard let base = bytes.baseAddress, bytes.count > 0 else {
        if connection.isReadClosed { end() }
        return
      }
      let (result, consumed) = parser.parse(base, count: bytes.count)
      connection.consume(consumed)
      switch result {
      case .needMore:
        continue
      case .request(let request):
        respond(to: request)
      case .failure(let status):
        server.count(status)
        prepare(status: status, resource: nil, keepAlive: false, minorVersion: 1, sendBody: false)
      }
    }
  }

  /// Prepares the response to `request`.
  private func respond(to request: HTTPRequest) {
    let resource: Resource?
    do {
      resource = try server.content.resolve(request.path)
    } catch {
      server.count(.internalServerError)
      prepare(
        status: .internalServerError, resource: nil, keepAlive: false, minorVersion: request.minorVersion,
        sendBody: false)
      return
    }
    let status: HTTPStatus = resource == nil ? .notFound : .ok
    server.count(status)
    prepare(
      status: status, resource: resource, keepAlive: request.keepAlive, minorVersion: request.minorVersion,
      sendBody: request.method == .get)
  }

  /// Writes the head for `status` and sets up the body.
  private func prepare(status: HTTPStatus, resource: Resource?, keepAlive: Bool, minorVersion: UInt8, sendBody: Bool) {
    headLength = HTTPResponseHead.write(
      status: status, contentType: resource?.contentType, contentLength: resource?.size ?? 0, keepAlive: keepAlive,
      minorVersion: minorVersion, into: head)
    headSent = 0
    body = sendBody ? resource : nil
    offset = 0
    remaining = sendBody ? resource?.size ?? 0 : 0
    closeAfterResponse = !keepAlive
  }

  /// Moves the rest of the response into the send buffer; true when all of it is there.
  private func send() -> Bool {
    if headSent < headLength {
      // SAFETY: headSent < headLength <= the head buffer's size.
      headSent &+= connection.write(UnsafeRawBufferPointer(start: head + headSent, count: headLength &- headSent))
      if headSent < headLength { return false }
    }
    guard let resource = body else { return true }
    while remaining > 0 {
      let room = connection.writableBytes
      guard room > 0 else {
        // A write that takes nothing asks for `.writable` once there is room.
        connection.write(UnsafeRawBufferPointer(start: server.scratch, count: 1))
        return false
      }
      let want = Int(min(remaining, UInt64(min(room, server.scratchSize))))
      let count: Int
      do {
        count = try server.content.read(resource, from: offset, into: server.scratch, count: want)
      } catch {
        // The image went bad under us (its header was checked at start): end the connection.
        server.count(.internalServerError)
        connection.abort()
        server.finished(self)
        return false
      }
      guard count > 0 else {
        connection.abort()
        server.finished(self)
        return false
      }
      connection.write(UnsafeRawBufferPointer(start: server.scratch, count: count))
      offset &+= UInt64(count)
      remaining &-= UInt64(count)
    }
    body = nil
    return true
  }

  /// Closes the connection (after the bytes written are sent) and forgets it.
  func end() {
    connection.close()
    server.finished(self)
  }

  /// Resets the connection at once and forgets it (idle too long).
  func expire() {
    connection.abort()
    server.finished(self)
  }
}
