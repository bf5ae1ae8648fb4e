// WorkerHost.swift: the worker side of a VM worker process: runs the daemon's calls on this process's engine,
// a few at a time, and streams console subscriptions back.
import ControlAPI
import DenaliCore
import Foundation
import Logging
import ThreadConfinement

/// Serves one worker channel with an engine until the daemon closes the channel.
public final class WorkerHost: Sendable {
  /// Calls waiting for a handler thread at most; more are refused at once (the daemon sends at most one per API
  /// thread, plus unfollows).
  static let queueLimit = 256

  /// Why handler threads wake.
  enum Wake: Int, CaseIterable {
    /// A call was queued, or the host is stopping.
    case work
  }

  /// The queue of calls and whether the channel has ended.
  struct Queue {
    /// Calls not yet taken, oldest first.
    var calls: [(number: UInt64, call: WorkerCall)] = []
    /// True once the channel ended: handlers finish what they hold and stop.
    var ended = false
    /// Handler threads not yet stopped.
    var running = 0
  }

  private let channel: WorkerChannel
  private let engine: EngineBackend
  private let logger: Logger
  private let handlerCount: Int
  private let queue = Monitor<Queue, Wake>(Queue())
  /// Open console subscriptions by the number of the call that opened them.
  private let subscriptions = Locked<[UInt64: any ConsoleSubscription]>([:])
  /// Set once the daemon asked this worker to shut down (the engine then is stopped).
  private let stopped = Locked(false)

  /// A host for `backend` (an engine made by `makeControlBackend`) on the channel at `descriptor`, with `handlers`
  /// threads running calls; nil for a backend of another kind.
  public convenience init?(serving backend: any ControlBackend, descriptor: Int32, handlers: Int) {
    guard let engine = backend as? EngineBackend else { return nil }
    self.init(descriptor: descriptor, engine: engine, handlers: handlers, logger: Logger(label: "denalid.vm-process"))
  }

  /// A host for `engine` on the channel at `descriptor`, with `handlers` threads running calls.
  init(descriptor: Int32, engine: EngineBackend, handlers: Int, logger: Logger) {
    channel = WorkerChannel(descriptor: descriptor)
    self.engine = engine
    handlerCount = max(1, handlers)
    self.logger = logger
  }

  /// Starts the threads that run calls (before the calling thread enters its own system-call filter).
  public func startHandlers() {
    queue.withLock { $0.running = handlerCount }
    for index in 0..<handlerCount {
      let thread = Thread { [self] in
        ThreadConfinement.enter(.channel)
        handleCalls()
        queue.withLock { $0.running -= 1 }
        queue.broadcast(.work)
      }
      thread.name = "vm-process-call-\(index)"
      thread.start()
    }
  }

  /// Reads calls until the daemon closes the channel (or it breaks), waits for the calls under way, then stops
  /// the engine if the daemon had not (so a daemon that died leaves its VMs swapped out and journaled for the
  /// next start). `startHandlers()` must have run.
  public func run() {
    while true {
      let frame: WorkerFrame?
      do {
        frame = try channel.receive()
      } catch {
        logger.error("the channel to the daemon broke: \(error)")
        break
      }
      guard let frame else { break }
      guard case .call(let number, let call) = frame else {
        logger.error("the daemon sent a frame that is not a call: ignored")
        continue
      }
      let accepted = queue.withLock { queue in
        guard queue.calls.count < Self.queueLimit else { return false }
        queue.calls.append((number, call))
        return true
      }
      if accepted {
        queue.signal(.work)
      } else {
        try? channel.send(.answer(number, .failed(.unavailable("the VM process has too many calls waiting"))))
      }
    }
    queue.withLock { $0.ended = true }
    queue.broadcast(.work)
    // Calls under way finish (a shutdown call swaps every VM out) before the process may exit.
    queue.withLock { queue in queue.running == 0 ? .done(()) : .wait(.work, until: nil) }
    let open = subscriptions.withLock { table in
      defer { table = [:] }
      return Array(table.values)
    }
    for subscription in open { subscription.cancel() }
    if !stopped.withLock({ $0 }) {
      logger.notice("the daemon closed the channel without a shutdown: stopping the engine")
      engine.shutdown()
    }
  }

  /// A handler thread's loop: takes calls until the channel has ended and the queue is empty.
  private func handleCalls() {
    while true {
      let next = queue.withLock { (queue) -> MonitorStep<(number: UInt64, call: WorkerCall)?, Wake> in
        if let first = queue.calls.first {
          queue.calls.removeFirst()
          return .done(first)
        }
        return queue.ended ? .done(nil) : .wait(.work, until: nil)
      }
      guard let (number, call) = next else { return }
      let answer = perform(call, number: number)
      do {
        try channel.send(.answer(number, answer))
      } catch {
        logger.warning("cannot answer the daemon: \(error)")
      }
    }
  }

  /// Runs `call` (number `number`) on the engine.
  private func perform(_ call: WorkerCall, number: UInt64) -> WorkerAnswer {
    do throws(ControlBackendError) {
      switch call {
      case .create(let creation):
        let result = try engine.createVMs(creation.request)
        return .created(result.created, stoppedBy: result.stoppedBy)
      case .list:
        return .vms(engine.listVMs())
      case .inspect(let reference):
        return .vm(try engine.inspectVM(reference))
      case .kill(let reference):
        return .vm(try engine.killVM(reference))
      case .consoleTail(let reference, let lines):
        return .bytes(Data(try engine.consoleTail(reference, lines: lines)))
      case .follow(let reference, let tailLines):
        let channel = channel
        let subscription = try engine.followConsole(reference, tailLines: tailLines) { event in
          try? channel.send(.console(number, WorkerConsoleEvent(event)))
        }
        let kept = subscriptions.withLock { table in
          guard table.count < Self.subscriptionLimit else { return false }
          table[number] = subscription
          return true
        }
        guard kept else {
          subscription.cancel()
          throw .unavailable("the VM process follows \(Self.subscriptionLimit) consoles already")
        }
        return .done
      case .unfollow(let opened):
        subscriptions.withLock { $0.removeValue(forKey: opened) }?.cancel()
        return .done
      case .statistics:
        return .statistics(engine.statistics())
      case .health:
        let health = engine.health()
        return .health(healthy: health.healthy, detail: health.detail)
      case .holdings(let uid):
        return .holdings(engine.holdings(of: uid))
      case .namesInUse(let names):
        return .names(engine.namesInUse(names))
      case .shutdown:
        stopped.withLock { $0 = true }
        engine.shutdown()
        return .done
      }
    } catch {
      return .failed(error)
    }
  }

  /// Console subscriptions open at once at most.
  static let subscriptionLimit = 4096
}
