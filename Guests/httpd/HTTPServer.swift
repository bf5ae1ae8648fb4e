// HTTPServer.swift: httpd's listener, its sessions, the idle timeout, the shared read buffer and the counters.
import Ilwaco

/// Counters of an `HTTPServer`.
struct ServerStatistics {
  /// Connections accepted.
  var connections: UInt64 = 0
  /// Responses by status: 200, 404, 4xx refusals (400, 405, 413, 414, 431, 501, 505), 500.
  var ok: UInt64 = 0
  var notFound: UInt64 = 0
  var refused: UInt64 = 0
  var failed: UInt64 = 0
  /// Connections reset for idling past the timeout.
  var expired: UInt64 = 0
}

/// An HTTP/1.1 file server on one TCP port.
final class HTTPServer {
  let content: SiteContent
  let limits: HTTPParserLimits
  /// One buffer through which every session's body passes on its way to the send buffer.
  let scratch: UnsafeMutableRawPointer
  let scratchSize = 4096
  private(set) var statistics = ServerStatistics()
  private var sessions: [HTTPSession] = []
  private var listener: TCPListener?
  private let loop: EventLoop
  /// Stop after this many responses (0: never) and once the last connection ends.
  private let responseLimit: UInt64
  private var responses: UInt64 = 0
  private let idleNanoseconds: UInt64
  /// How often idle connections are looked for: a quarter of the timeout.
  private let sweepMilliseconds: UInt64
  /// The sweep's timer, set only while a connection is open: a server with none sets no timer, so it idles until a
  /// packet comes (a swapped-out VM is not woken for nothing).
  private var sweepTimer: EventLoop.Timer?

  /// A server of `content` on `port`; nil if the port cannot be listened on.
  init?(
    tcp: TCPStack, loop: EventLoop, port: UInt16, content: SiteContent, limits: HTTPParserLimits,
    responseLimit: UInt64, idleMilliseconds: UInt64
  ) {
    self.content = content
    self.limits = limits
    self.loop = loop
    self.responseLimit = responseLimit
    idleNanoseconds = idleMilliseconds &* 1_000_000
    sweepMilliseconds = max(idleMilliseconds / 4, 1)
    scratch = .allocate(byteCount: scratchSize, alignment: 8)
    sessions.reserveCapacity(tcp.configuration.maximumConnections)
    listener = tcp.listen(port: port) { [unowned(unsafe) self] connection in self.accept(connection) }
    guard listener != nil else {
      scratch.deallocate()
      return nil
    }
  }

  deinit { scratch.deallocate() }

  /// Connections open now.
  var sessionCount: Int { sessions.count }
  /// The least free heap seen after a connection was taken (its buffers and session allocated).
  private(set) var lowestHeapFree = heapFreeBytes

  /// An upper bound of the heap one connection takes at most: TCP's buffer set and control block, and the
  /// session with its parser (each allocation's header included).
  static func bytesPerConnection(configuration: TCPConfiguration, limits: HTTPParserLimits) -> Int {
    let tcp = configuration.sendBufferSize + configuration.receiveBufferSize + 64 + 512
    let session = limits.head + limits.requestLine + 4 * limits.lines + HTTPResponseHead.maximumLength + 512
    return tcp + session
  }

  /// An upper bound of the heap taken once, however many connections: the shared body buffer, the half-open table
  /// and the tables sized by the connection limit.
  static func fixedBytes(configuration: TCPConfiguration) -> Int {
    4096 + 64 * configuration.maximumHalfOpen + 64 * configuration.maximumConnections + 4096
  }

  /// Takes a new connection.
  private func accept(_ connection: TCPConnection) {
    statistics.connections &+= 1
    let session = HTTPSession(connection: connection, server: self)
    sessions.append(session)
    connection.handler = { _, event in session.handle(event) }
    lowestHeapFree = min(lowestHeapFree, heapFreeBytes)
    if sweepTimer == nil {
      sweepTimer = loop.schedule(afterMilliseconds: sweepMilliseconds, repeating: true) { [unowned(unsafe) self] in
        self.expireIdle()
      }
    }
  }

  /// Counts a response by its status.
  func count(_ status: HTTPStatus) {
    switch status.code {
    case 200: statistics.ok &+= 1
    case 404: statistics.notFound &+= 1
    case 500: statistics.failed &+= 1
    default: statistics.refused &+= 1
    }
  }

  /// A response is all in a send buffer: with a response limit, stop listening once it is reached.
  func responseQueued() {
    responses &+= 1
    if responseLimit > 0 && responses >= responseLimit, let listener {
      listener.close()
      self.listener = nil
    }
  }

  /// Forgets a session that ended; stops the loop (a moment later, for the last segments to leave) when the
  /// response limit is reached and no connection is left.
  func finished(_ session: HTTPSession) {
    session.connection.handler = nil
    if let index = sessions.firstIndex(where: { $0 === session }) { sessions.remove(at: index) }
    if sessions.isEmpty, let timer = sweepTimer {
      loop.cancel(timer)
      sweepTimer = nil
    }
    if listener == nil && sessions.isEmpty {
      loop.schedule(afterMilliseconds: 200) { [unowned(unsafe) self] in self.loop.stop() }
    }
  }

  /// Resets connections idle for longer than the timeout (slow or vanished clients hold no slot for ever).
  private func expireIdle() {
    let now = Clock.monotonicNanoseconds
    var index = sessions.count
    while index > 0 {
      index -= 1
      let session = sessions[index]
      if now &- session.lastActivity > idleNanoseconds {
        statistics.expired &+= 1
        session.expire()
      }
    }
  }
}
