// ControlHTTPHandler.swift: one connection's HTTP/1.1 exchange: bounded body, routing, responses, console streams.
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Reads requests (one at a time; NIO's pipelining handler queues the next), parses them with the router, runs
/// them on the blocking pool, and writes JSON responses; follows consoles with chunked transfer encoding.
final class ControlHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  /// A follower that falls this many bytes behind is disconnected rather than buffered without bound.
  static let maximumStreamBacklog = 4 << 20
  /// A connection that sends nothing for this long while no request or stream is in progress is closed.
  static let idleTimeout = TimeAmount.seconds(60)

  private let dispatcher: ControlDispatcher
  private let router: ControlRouter
  private let pool: NIOThreadPool
  private let logger: Logger
  /// The user on the other end of this connection.
  private let caller: ControlCaller

  private var head: HTTPRequestHead?
  private var body: ByteBuffer?
  /// The current request was answered early (413) and the connection closes; its remaining parts are ignored.
  private var discarding = false
  private var stream = ConsoleStream()
  /// A request is being carried out on the blocking pool.
  private var busy = false

  init(dispatcher: ControlDispatcher, router: ControlRouter, pool: NIOThreadPool, logger: Logger, caller: ControlCaller)
  {
    self.caller = caller
    self.dispatcher = dispatcher
    self.router = router
    self.pool = pool
    self.logger = logger
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let head):
      self.head = head
      body = nil
      discarding = false
      if let length = head.headers.first(name: "content-length").flatMap(Int.init),
        length > router.limits.maximumBodyBytes
      {
        refuseEarly(context: context, .bodyTooLarge(limit: router.limits.maximumBodyBytes))
      }
    case .body(var chunk):
      guard !discarding else { return }
      if body == nil { body = context.channel.allocator.buffer(capacity: chunk.readableBytes) }
      if (body?.readableBytes ?? 0) + chunk.readableBytes > router.limits.maximumBodyBytes {
        refuseEarly(context: context, .bodyTooLarge(limit: router.limits.maximumBodyBytes))
        return
      }
      body?.writeBuffer(&chunk)
    case .end:
      guard !discarding, let head else { return }
      self.head = nil
      let bytes = body.map { Array($0.readableBytesView) }
      body = nil
      handle(context: context, head: head, body: bytes)
    }
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    if let parseError = error as? HTTPParserError, head == nil, !stream.isActive, !discarding {
      // The request could not be parsed: answer 400 in JSON, then close (the stream cannot be resynchronised).
      discarding = true
      write(context: context, response: .error(.malformedHTTP("\(parseError)")), keepAlive: false)
      return
    }
    logger.debug("control connection error", metadata: ["error": "\(error)"])
    context.close(promise: nil)
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
      // Idle connections hold a descriptor each: close them, but not while a request or a stream is under way.
      if !busy && !stream.isActive && head == nil { context.close(promise: nil) }
      return
    }
    context.fireUserInboundEventTriggered(event)
  }

  func channelInactive(context: ChannelHandlerContext) {
    stream.cancel()
    context.fireChannelInactive()
  }

  /// Answers before the request is complete, and closes the connection after the answer.
  private func refuseEarly(context: ChannelHandlerContext, _ error: ControlError) {
    discarding = true
    head = nil
    body = nil
    dispatcher.metrics.countRequest(route: "unrouted", status: error.statusCode)
    write(context: context, response: .error(error), keepAlive: false)
  }

  private func handle(context: ChannelHandlerContext, head: HTTPRequestHead, body: [UInt8]?) {
    let action: ControlAction
    do throws(ControlError) {
      action = try router.parse(
        method: head.method.rawValue, uri: head.uri, contentType: head.headers.first(name: "content-type"), body: body)
    } catch {
      dispatcher.metrics.countRequest(route: "unrouted", status: error.statusCode)
      logger.debug(
        "refused request", metadata: ["method": "\(head.method.rawValue)", "uri": "\(head.uri)", "error": "\(error)"])
      write(context: context, response: .error(error), keepAlive: head.isKeepAlive)
      return
    }
    if case .readConsole(let vm, let tail, true) = action {
      startStream(context: context, head: head, vm: vm, tail: tail)
      return
    }
    let keepAlive = head.isKeepAlive
    let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
    let dispatcher = self.dispatcher
    let caller = self.caller
    busy = true
    pool.runIfActive(eventLoop: context.eventLoop) { dispatcher.perform(action, caller: caller) }.whenComplete {
      result in
      let (handler, context) = bound.value
      handler.busy = false
      let response: ControlResponse
      switch result {
      case .success(let value): response = value
      case .failure: response = .error(.notAccepting("denalid is shutting down"))
      }
      dispatcher.metrics.countRequest(route: action.route, status: response.status)
      handler.logRequest(head, action: action, status: response.status)
      handler.write(context: context, response: response, keepAlive: keepAlive)
    }
  }

  /// Writes a whole response; closes the connection afterwards unless it is kept alive.
  private func write(context: ChannelHandlerContext, response: ControlResponse, keepAlive: Bool) {
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: response.contentType)
    headers.add(name: "Content-Length", value: String(response.body.count))
    headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
    for (name, value) in response.headers { headers.add(name: name, value: value) }
    let head = HTTPResponseHead(
      version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
    context.write(wrapOutboundOut(.head(head)), promise: nil)
    if !response.body.isEmpty {
      context.write(
        wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
    }
    let done = context.writeAndFlushPromise()
    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
    if !keepAlive {
      let channel = context.channel
      done.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }
  }

  private func logRequest(_ head: HTTPRequestHead, action: ControlAction, status: Int) {
    let level: Logger.Level = action.changesState ? .info : .debug
    logger.log(level: level, "\(head.method.rawValue) \(head.uri) -> \(status) (\(caller))")
  }

  // MARK: Console streams

  /// Subscribes on the pool, then sends the head and the events gathered meanwhile, then events as they come.
  private func startStream(context: ChannelHandlerContext, head: HTTPRequestHead, vm: VMReference, tail: Int) {
    stream = ConsoleStream()
    stream.state = .subscribing
    stream.keepAlive = head.isKeepAlive
    let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
    let eventLoop = context.eventLoop
    let dispatcher = self.dispatcher
    let generation = stream.generation
    let caller = self.caller
    let handler: @Sendable (ConsoleEvent) -> Void = { event in
      eventLoop.execute {
        let (handler, context) = bound.value
        handler.consoleEvent(event, generation: generation, context: context)
      }
    }
    pool.runIfActive(eventLoop: eventLoop) {
      SubscriptionBox(subscription: try dispatcher.follow(vm, tail: tail, caller: caller, handler: handler))
    }.whenComplete { result in
      let (handler, context) = bound.value
      handler.subscribed(result, head: head, generation: generation, context: context)
    }
  }

  private func subscribed(
    _ result: Result<SubscriptionBox, any Error>, head: HTTPRequestHead, generation: UInt64,
    context: ChannelHandlerContext
  ) {
    guard generation == stream.generation, case .subscribing = stream.state else {
      if case .success(let box) = result { box.subscription.cancel() }
      return
    }
    switch result {
    case .failure(let error):
      let controlError = error as? ControlError ?? .notAccepting("denalid is shutting down")
      stream = ConsoleStream()
      dispatcher.metrics.countRequest(route: "console", status: controlError.statusCode)
      write(context: context, response: .error(controlError), keepAlive: head.isKeepAlive)
    case .success(let box):
      dispatcher.metrics.countRequest(route: "console", status: 200)
      stream.subscription = box.subscription
      stream.state = .streaming
      var headers = HTTPHeaders()
      headers.add(name: "Content-Type", value: "text/plain")
      headers.add(name: "Transfer-Encoding", value: "chunked")
      headers.add(name: "Connection", value: head.isKeepAlive ? "keep-alive" : "close")
      context.write(
        wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
      let pending = stream.pending
      stream.pending = []
      for event in pending { consoleEvent(event, generation: generation, context: context) }
      context.flush()
    }
  }

  private func consoleEvent(_ event: ConsoleEvent, generation: UInt64, context: ChannelHandlerContext) {
    guard generation == stream.generation else { return }
    switch stream.state {
    case .idle, .finished: return
    case .subscribing: stream.pending.append(event)
    case .streaming:
      switch event {
      case .output(let bytes):
        guard !bytes.isEmpty else { return }
        stream.backlog += bytes.count
        if stream.backlog > Self.maximumStreamBacklog {
          logger.warning("console follower fell \(stream.backlog) bytes behind; disconnecting it")
          stream.cancel()
          context.close(promise: nil)
          return
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let count = bytes.count
        promise.futureResult.whenComplete { _ in
          let handler = bound.value
          if handler.stream.generation == generation { handler.stream.backlog -= count }
        }
        context.writeAndFlush(
          wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: promise)
      case .ended:
        let keepAlive = stream.keepAlive
        stream.state = .finished
        stream.subscription = nil
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
          let channel = context.channel
          done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
      }
    }
  }
}

/// The state of one connection's console stream.
struct ConsoleStream {
  /// Where the stream is.
  enum State { case idle, subscribing, streaming, finished }

  private static let counter = Atomic<UInt64>(0)

  /// Distinguishes this stream's events from those of an earlier stream on the same connection.
  let generation: UInt64
  var state = State.idle
  var subscription: (any ConsoleSubscription)?
  /// Events delivered before the response head was written.
  var pending: [ConsoleEvent] = []
  /// Bytes written but not yet sent.
  var backlog = 0
  var keepAlive = true

  init() { generation = Self.counter.wrappingAdd(1, ordering: .relaxed).newValue }

  /// True while subscribing or streaming.
  var isActive: Bool { state == .subscribing || state == .streaming }

  /// Cancels the subscription, if any; no further events are written.
  mutating func cancel() {
    subscription?.cancel()
    subscription = nil
    state = .finished
  }
}

/// Carries a subscription from the blocking pool back to the event loop.
struct SubscriptionBox: Sendable {
  let subscription: any ConsoleSubscription
}

extension ChannelHandlerContext {
  /// A fresh promise for a final write.
  func writeAndFlushPromise() -> EventLoopPromise<Void> { eventLoop.makePromise(of: Void.self) }
}
