// ControlServer.swift: the control API server: SwiftNIO on a listening unix socket, peer checks, clean stop.
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ThreadConfinement

/// Serves the control API on a `ControlSocket`: one event-loop thread for HTTP, a small pool of threads for
/// backend calls (which may block). Every accepted connection is checked against the `PeerPolicy` first.
public final class ControlServer: Sendable {
  /// How the server is set up.
  public struct Configuration: Sendable {
    /// Request limits.
    public var limits: ControlLimits
    /// Image directories, searched in order.
    public var imageDirectories: [String]
    /// Who may connect.
    public var peerPolicy: PeerPolicy
    /// Threads that run backend calls (several, so one slow create does not hold up a list).
    public var blockingThreads: Int
    /// The daemon's version, reported by GET /v1/health.
    public var version: DaemonVersion

    /// A configuration.
    public init(
      limits: ControlLimits, imageDirectories: [String], peerPolicy: PeerPolicy, blockingThreads: Int = 4,
      version: DaemonVersion = .unknown
    ) {
      self.limits = limits
      self.imageDirectories = imageDirectories
      self.peerPolicy = peerPolicy
      self.blockingThreads = blockingThreads
      self.version = version
    }
  }

  /// The dispatcher (and through it the backend, limits, image resolver and metrics).
  public let dispatcher: ControlDispatcher
  private let configuration: Configuration
  private let logger: Logger
  private let state = NIOLockedValueBox<State>(State())
  private let connections = ConnectionRegistry()

  private struct State {
    var group: MultiThreadedEventLoopGroup?
    var pool: NIOThreadPool?
    var listener: (any Channel)?
    var socket: ControlSocket?
  }

  /// A server for `backend`; nothing runs until `start(on:)`.
  public init(
    backend: any ControlBackend, configuration: Configuration, logger: Logger,
    metrics: ControlMetrics = ControlMetrics()
  ) {
    self.configuration = configuration
    self.logger = logger
    let images = ImageResolver(directories: configuration.imageDirectories)
    dispatcher = ControlDispatcher(
      backend: backend, limits: configuration.limits, images: images, metrics: metrics, version: configuration.version)
    for directory in configuration.imageDirectories where ImageResolver.canonicalPath(directory) == nil {
      logger.warning("image directory \(directory) does not exist; images cannot come from it")
    }
  }

  /// Puts the event loop's thread and each of the pool's threads in their seccomp roles (no-ops while the filters
  /// are off). Each pool task waits until all have started, so each runs on a thread of its own.
  static func confine(group: MultiThreadedEventLoopGroup, pool: NIOThreadPool, poolThreads: Int) {
    for loop in group.makeIterator() {
      try? loop.submit { ThreadConfinement.enter(.apiLoop) }.wait()
    }
    let entered = ConditionLock(value: 0)
    let loop = group.next()
    // Task k counts itself in after the k before it, then waits for all: with as many tasks as threads, each
    // task holds a thread of its own until every thread has entered its role.
    let tasks = (0..<poolThreads).map { index in
      pool.runIfActive(eventLoop: loop) {
        ThreadConfinement.enter(.apiPool)
        entered.lock(whenValue: index)
        entered.unlock(withValue: index + 1)
        entered.lock(whenValue: poolThreads)
        entered.unlock()
      }
    }
    for task in tasks { try? task.wait() }
  }

  /// Starts serving on `socket` (the server owns its descriptor from now on).
  public func start(on socket: ControlSocket) throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let pool = NIOThreadPool(numberOfThreads: max(1, configuration.blockingThreads))
    pool.start()
    Self.confine(group: group, pool: pool, poolThreads: max(1, configuration.blockingThreads))
    let router = ControlRouter(limits: configuration.limits)
    let dispatcher = self.dispatcher
    let logger = self.logger
    let policy = configuration.peerPolicy
    let bootstrap = ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 512)
      .childChannelOption(.maxMessagesPerRead, value: 4)
      .childChannelInitializer { [connections] channel in
        Self.peerCredentials(of: channel).flatMap { credentials -> EventLoopFuture<Void> in
          // The policy reads the user and group databases (NSS may block): on the pool, not the event loop.
          pool.runIfActive(eventLoop: channel.eventLoop) { policy.admit(credentials) }.flatMap { admission in
            switch admission {
            case .failure(let reason):
              logger.warning("refused control connection from \(credentials): \(reason)")
              dispatcher.metrics.countRefusedPeer()
              return channel.close()
            case .success(let caller):
              connections.track(channel)
              return channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(IdleStateHandler(readTimeout: ControlHTTPHandler.idleTimeout))
                try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false)
                try sync.addHandler(
                  ControlHTTPHandler(dispatcher: dispatcher, router: router, pool: pool, logger: logger, caller: caller)
                )
              }
            }
          }
        }.flatMapError { error in
          logger.warning("refused control connection: cannot read its credentials: \(error)")
          return channel.close()
        }
      }
    let listener: any Channel
    do {
      listener = try bootstrap.withBoundSocket(socket.descriptor).wait()
    } catch {
      try? pool.syncShutdownGracefully()
      try? group.syncShutdownGracefully()
      throw error
    }
    state.withLockedValue {
      $0.group = group
      $0.pool = pool
      $0.listener = listener
      $0.socket = socket
    }
    let version = configuration.version
    logger.info(
      "control API (denalid \(version.version), commit \(version.commit ?? "unknown")) listening on \(socket.path)")
  }

  /// Stops: refuses state changes, closes the listener and every connection, waits for backend calls in
  /// flight to return, removes the socket file. Safe to call more than once; the backend is not shut down here.
  public func stop() {
    dispatcher.stopAccepting()
    let (group, pool, listener, socket) = state.withLockedValue { state in
      defer {
        state.listener = nil
        state.group = nil
        state.pool = nil
      }
      return (state.group, state.pool, state.listener, state.socket)
    }
    try? listener?.close().wait()
    connections.closeAll()
    try? pool?.syncShutdownGracefully()
    try? group?.syncShutdownGracefully()
    if listener != nil { socket?.removeFile() }
    if listener != nil { logger.info("control API stopped") }
  }

  /// The peer's SO_PEERCRED credentials.
  static func peerCredentials(of channel: any Channel) -> EventLoopFuture<PeerCredentials> {
    guard let provider = channel as? any SocketOptionProvider else {
      return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
    }
    // SAFETY: SO_PEERCRED fills a `struct ucred` { pid_t pid; uid_t uid; gid_t gid; }: three 4-byte fields,
    // which is the layout of this tuple (Glibc hides `ucred` itself behind _GNU_SOURCE). NIO passes the
    // tuple's size as the option length, and the kernel writes exactly that many bytes.
    let future: EventLoopFuture<(Int32, UInt32, UInt32)> = provider.unsafeGetSocketOption(
      level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
    return future.map { PeerCredentials(pid: $0.0, uid: $0.1, gid: $0.2) }
  }
}

/// The open connections, so that `stop()` can close them (ending console streams with them).
final class ConnectionRegistry: Sendable {
  private let state = NIOLockedValueBox<(open: [ObjectIdentifier: any Channel], closed: Bool)>(([:], false))

  /// Remembers `channel` until it closes; closes it at once if the registry was closed already.
  func track(_ channel: any Channel) {
    let key = ObjectIdentifier(channel)
    let added = state.withLockedValue { state -> Bool in
      guard !state.closed else { return false }
      state.open[key] = channel
      return true
    }
    guard added else {
      channel.close(promise: nil)
      return
    }
    channel.closeFuture.whenComplete { [self] _ in
      _ = state.withLockedValue { $0.open.removeValue(forKey: key) }
    }
  }

  /// Closes every connection and refuses new ones.
  func closeAll() {
    let open = state.withLockedValue { state in
      state.closed = true
      defer { state.open = [:] }
      return Array(state.open.values)
    }
    for channel in open { try? channel.close().wait() }
  }
}
