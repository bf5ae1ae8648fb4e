// WorkerConnection.swift: the daemon's side of one VM worker process's channel: numbered calls whose answers a
// reader thread hands to the callers waiting for them, and console events to their subscriptions.
import ControlAPI
import DenaliCore
import Foundation
import Logging
import ThreadConfinement

/// The daemon's connection to VM worker process number `index`.
final class WorkerConnection: Sendable {
  /// Why callers wake.
  enum Wake: Int, CaseIterable {
    /// An answer arrived, or the channel ended.
    case answer
  }

  /// Calls under way and whether the channel still works.
  struct Calls {
    /// The number the next call takes (odd numbers only: console events name the call that opened them).
    var next: UInt64 = 1
    /// Answers by call number: nil while awaited, the answer once it came.
    var pending: [UInt64: WorkerAnswer?] = [:]
    /// Why the channel ended, nil while it works.
    var ended: String?
    /// True once the daemon closed the channel itself (its end is then no error).
    var closing = false
  }

  /// The process's number (its VMs' ids carry it in their leading digits).
  let index: Int
  /// The process id, for messages.
  let pid: Int32
  private let channel: WorkerChannel
  private let calls = Monitor<Calls, Wake>(Calls())
  /// Console subscriptions by the number of the call that opened them.
  private let followers = Locked<[UInt64: WorkerFollower]>([:])
  private let logger: Logger
  /// Called on the reader thread, last, when the channel ended without `close()` (the process died).
  private let onLost: (@Sendable (WorkerConnection) -> Void)?

  /// A connection to process `index` (`pid`) over the channel at `descriptor`; `onLost` is told if the process
  /// goes away unasked.
  init(
    index: Int, pid: Int32, descriptor: Int32, logger: Logger, onLost: (@Sendable (WorkerConnection) -> Void)? = nil
  ) {
    self.index = index
    self.pid = pid
    channel = WorkerChannel(descriptor: descriptor)
    self.logger = logger
    self.onLost = onLost
  }

  /// What this process is called in messages.
  var label: String { "VM process \(index) (pid \(pid))" }

  /// True while the channel works.
  var isConnected: Bool { calls.withLock { $0.ended == nil } }

  /// Starts the thread that reads the channel.
  func startReader() {
    let thread = Thread { [self] in
      ThreadConfinement.enter(.channel)
      readFrames()
    }
    thread.name = "vm-process-reader-\(index)"
    thread.start()
  }

  /// Sends `call`; returns its number, to `wait` for the answer. Throws when the channel no longer works.
  func begin(_ call: WorkerCall) throws(ControlBackendError) -> UInt64 {
    let number = try reserveNumber()
    do {
      try channel.send(.call(number, call))
    } catch {
      _ = calls.withLock { $0.pending.removeValue(forKey: number) }
      throw .unavailable("\(label) cannot be reached: \(error)")
    }
    return number
  }

  /// The next call's number, with its answer awaited; throws when the channel no longer works.
  private func reserveNumber() throws(ControlBackendError) -> UInt64 {
    try calls.withLock { (calls) throws(ControlBackendError) -> UInt64 in
      if let ended = calls.ended { throw .unavailable("\(label) is gone (\(ended)): its VMs are out of reach") }
      let number = calls.next
      calls.next += 2
      calls.pending[number] = .some(nil)
      return number
    }
  }

  /// Sends `call` without waiting for its answer (which the reader then drops): for a cancel, where nobody waits.
  func post(_ call: WorkerCall) {
    let number: UInt64? = calls.withLock { calls in
      guard calls.ended == nil else { return nil }
      defer { calls.next += 2 }
      return calls.next
    }
    guard let number else { return }
    try? channel.send(.call(number, call))
  }

  /// Stops waiting for call `number`: its answer, if it comes, is dropped.
  func forget(_ number: UInt64) { _ = calls.withLock { $0.pending.removeValue(forKey: number) } }

  /// The answer to call `number`, waiting at most `timeout`; a failure answer is thrown as its error.
  func wait(_ number: UInt64, timeout: Duration) throws(ControlBackendError) -> WorkerAnswer {
    let deadline = monotonicNanoseconds() + nanoseconds(timeout)
    let answer = calls.withLock { (calls) -> MonitorStep<Result<WorkerAnswer, ControlBackendError>, Wake> in
      if case .some(.some(let answer)) = calls.pending[number] {
        calls.pending[number] = nil
        return .done(.success(answer))
      }
      if let ended = calls.ended {
        calls.pending[number] = nil
        return .done(.failure(.unavailable("\(label) is gone (\(ended)): its VMs are out of reach")))
      }
      if monotonicNanoseconds() >= deadline {
        calls.pending[number] = nil
        return .done(.failure(.hostError("\(label) did not answer within \(timeout)")))
      }
      return .wait(.answer, until: deadline)
    }
    switch answer {
    case .success(.failed(let failure)): throw failure
    case .success(let answer): return answer
    case .failure(let error): throw error
    }
  }

  /// `begin` then `wait`.
  func call(_ call: WorkerCall, timeout: Duration = WorkerConnection.callTimeout) throws(ControlBackendError)
    -> WorkerAnswer
  {
    try wait(try begin(call), timeout: timeout)
  }

  /// Opens a console subscription: `handler` gets the events the process streams until `cancel()`.
  func follow(
    _ vm: VMReference, tailLines: Int, handler: @escaping @Sendable (ConsoleEvent) -> Void
  ) throws(ControlBackendError) -> any ConsoleSubscription {
    let follower = WorkerFollower(handler: handler)
    // Registered before the call: the tail may come before the answer.
    let number = try reserveNumber()
    followers.withLock { $0[number] = follower }
    do {
      try channel.send(.call(number, .follow(vm, tailLines: tailLines)))
      _ = try wait(number, timeout: Self.callTimeout)
    } catch {
      forget(number)
      _ = followers.withLock { $0.removeValue(forKey: number) }
      follower.cancel()
      // In case the process did subscribe (an answer later than the wait).
      post(.unfollow(subscription: number))
      if let error = error as? ControlBackendError { throw error }
      throw .unavailable("\(label) cannot be reached: \(error)")
    }
    follower.onCancel = { [weak self] in
      guard let self else { return }
      _ = self.followers.withLock { $0.removeValue(forKey: number) }
      self.post(.unfollow(subscription: number))
    }
    return follower
  }

  /// Shuts the channel down: the process reads its end and exits (after stopping its engine if it had not).
  func close() {
    calls.withLock { $0.closing = true }
    channel.shutDown()
  }

  /// Most calls answer at once; a create of many VMs, a shutdown that swaps thousands out, or a list of them may
  /// take long.
  static let callTimeout: Duration = .seconds(600)

  /// The reader thread: hands each answer to its caller and each console event to its subscription until the
  /// channel ends; then fails every call still waiting and ends every subscription.
  private func readFrames() {
    var reason = "its channel closed"
    while true {
      let frame: WorkerFrame?
      do {
        frame = try channel.receive()
      } catch {
        reason = "\(error)"
        break
      }
      guard let frame else { break }
      switch frame {
      case .answer(let number, let answer):
        let awaited = calls.withLock { calls in
          guard calls.pending[number] != nil else { return false }
          calls.pending[number] = .some(answer)
          return true
        }
        if awaited { calls.broadcast(.answer) }
      case .console(let number, let event):
        let follower = followers.withLock { $0[number] }
        follower?.deliver(event.event)
      case .call:
        logger.error("\(label) sent a call: ignored")
      }
    }
    let expected = calls.withLock { calls in
      calls.ended = reason
      return calls.closing
    }
    if expected {
      logger.info("\(label) stopped")
    } else {
      logger.error("\(label): \(reason)")
    }
    calls.broadcast(.answer)
    let ended = followers.withLock { table in
      defer { table = [:] }
      return Array(table.values)
    }
    for follower in ended { follower.deliver(.ended(.faulted(description: "its VM process ended: \(reason)"))) }
    channel.close()
    if !expected { onLost?(self) }
  }
}

/// A console subscription served by a VM process: delivers events until cancelled, one at a time.
final class WorkerFollower: ConsoleSubscription, Sendable {
  /// The handler while subscribed, and what cancelling does besides.
  private let state: Locked<(handler: (@Sendable (ConsoleEvent) -> Void)?, onCancel: (@Sendable () -> Void)?)>

  /// A subscription delivering to `handler`.
  init(handler: @escaping @Sendable (ConsoleEvent) -> Void) { state = Locked((handler, nil)) }

  /// Run once when the subscription is cancelled (after the handler is gone).
  var onCancel: (@Sendable () -> Void)? {
    get { state.withLock { $0.onCancel } }
    set { state.withLock { $0.onCancel = newValue } }
  }

  /// Delivers `event` unless cancelled; an `.ended` event is the last.
  func deliver(_ event: ConsoleEvent) {
    state.withLock { state in
      state.handler?(event)
      if case .ended = event { state.handler = nil }
    }
  }

  /// Stops delivery: once this returns the handler is not called again.
  func cancel() {
    let action = state.withLock { state in
      defer { (state.handler, state.onCancel) = (nil, nil) }
      return state.handler == nil && state.onCancel == nil ? nil : state.onCancel
    }
    action?()
  }
}
