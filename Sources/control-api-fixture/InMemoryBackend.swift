// InMemoryBackend.swift: a ControlBackend that keeps VM records in memory and runs nothing (for API tests).
import ControlAPI
import Foundation
import Synchronization

/// Records VMs without running them: each is `runnable` until killed (or, with a lifetime, until it is
/// marked exited with status 0 that long after creation), and its console holds one line saying that no
/// guest runs here. It enforces names and a VM limit the way an engine must.
final class InMemoryBackend: ControlBackend {
  private struct Record {
    var info: VMInfo
    var console: [UInt8]
    var followers: [UInt64: @Sendable (ConsoleEvent) -> Void] = [:]
  }

  private struct State {
    var records: [UInt64: Record] = [:]
    var order: [UInt64] = []
    var names: [String: UInt64] = [:]
    var nextID: UInt64 = 1
    var nextFollower: UInt64 = 1
    var stopped = false
  }

  private let state = Mutex(State())
  private let maximumVMs: Int
  private let lifetime: Double?
  private let started = Date()

  init(maximumVMs: Int, lifetime: Double?) {
    self.maximumVMs = maximumVMs
    self.lifetime = lifetime
  }

  func start() throws {}

  func createVMs(_ request: VMCreationRequest) throws(ControlBackendError) -> VMCreationResult {
    try state.withLock { state throws(ControlBackendError) in
      guard !state.stopped else { throw .unavailable("the fixture is stopping") }
      if request.network != nil {
        throw .invalid(
          "this daemon has no virtual network (control-api-fixture has none): set `network = SUBNET` in its configuration file to give VMs NICs"
        )
      }
      guard state.records.count + request.count <= maximumVMs else {
        throw .limitReached("\(request.count) more VMs would exceed this daemon's limit of \(maximumVMs)")
      }
      if let taken = request.names?.first(where: { state.names[$0] != nil }) {
        throw .conflict("the name '\(taken)' is already in use")
      }
      var created: [VMInfo] = []
      for index in 0..<request.count {
        let id = state.nextID
        state.nextID += 1
        let name = request.names?[index]
        let info = VMInfo(
          id: id, name: name, image: request.image.path, state: .runnable, memoryBytes: request.memoryBytes,
          diskBytes: request.diskBytes ?? request.diskImage.map { UInt64($0.bytes.count) } ?? 0,
          arguments: request.arguments,
          exits: ["io": 0, "mmio": 0, "interrupted": 0, "other": 0], createdAt: Date(), owner: request.requester.uid,
          diskImage: request.diskImage?.path)
        let line = "fixture: vm \(id) was recorded but does not run (control-api-fixture runs no guests)\n"
        state.records[id] = Record(info: info, console: Array(line.utf8))
        state.order.append(id)
        if let name { state.names[name] = id }
        created.append(info)
      }
      if let lifetime {
        let ids = created.map(\.id)
        DispatchQueue.global().asyncAfter(deadline: .now() + lifetime) { [weak self] in
          for id in ids { self?.finish(id, as: .exited(status: 0)) }
        }
      }
      return VMCreationResult(created: created)
    }
  }

  /// Moves a VM that has not finished to `final` and ends its console followers.
  private func finish(_ id: UInt64, as final: VMState) {
    let followers = state.withLock { state -> [@Sendable (ConsoleEvent) -> Void] in
      guard var record = state.records[id], !record.info.state.isFinished else { return [] }
      record.info.state = final
      record.info.endedAt = Date()
      let followers = Array(record.followers.values)
      record.followers = [:]
      state.records[id] = record
      return followers
    }
    for follower in followers { follower(.ended(final)) }
  }

  func listVMs() -> [VMInfo] {
    state.withLock { state in state.order.compactMap { state.records[$0]?.info } }
  }

  func inspectVM(_ vm: VMReference) throws(ControlBackendError) -> VMInfo {
    try state.withLock { state throws(ControlBackendError) in
      guard let record = state.records[try Self.id(of: vm, in: state)] else { try Self.missing(vm) }
      return record.info
    }
  }

  func killVM(_ vm: VMReference) throws(ControlBackendError) -> VMInfo {
    let (info, followers) = try state.withLock { state throws(ControlBackendError) in
      let id = try Self.id(of: vm, in: state)
      guard var record = state.records[id] else { try Self.missing(vm) }
      guard !record.info.state.isFinished else {
        throw .conflict("\(vm) has already finished (\(record.info.state.kind.rawValue))")
      }
      record.info.state = .killed
      record.info.endedAt = Date()
      let followers = Array(record.followers.values)
      record.followers = [:]
      state.records[id] = record
      return (record.info, followers)
    }
    for follower in followers { follower(.ended(.killed)) }
    return info
  }

  func consoleTail(_ vm: VMReference, lines: Int) throws(ControlBackendError) -> [UInt8] {
    try state.withLock { state throws(ControlBackendError) in
      guard let record = state.records[try Self.id(of: vm, in: state)] else { try Self.missing(vm) }
      return Self.tail(record.console, lines: lines)
    }
  }

  func followConsole(
    _ vm: VMReference, tailLines: Int, handler: @escaping @Sendable (ConsoleEvent) -> Void
  ) throws(ControlBackendError) -> any ConsoleSubscription {
    try state.withLock { state throws(ControlBackendError) in
      let id = try Self.id(of: vm, in: state)
      guard var record = state.records[id] else { try Self.missing(vm) }
      handler(.output(Self.tail(record.console, lines: tailLines)))
      if record.info.state.isFinished {
        handler(.ended(record.info.state))
        return Subscription(cancel: {})
      }
      let key = state.nextFollower
      state.nextFollower += 1
      record.followers[key] = handler
      state.records[id] = record
      return Subscription(cancel: { [weak self] in
        _ = self?.state.withLock { $0.records[id]?.followers.removeValue(forKey: key) }
      })
    }
  }

  func statistics() -> DaemonStatistics {
    state.withLock { state in
      var byState: [VMStateKind: Int] = [:]
      for record in state.records.values { byState[record.info.state.kind, default: 0] += 1 }
      return DaemonStatistics(
        uptimeSeconds: Date().timeIntervalSince(started), vmsByState: byState, vmsCreatedTotal: state.nextID - 1)
    }
  }

  func health() -> BackendHealth {
    BackendHealth(healthy: true, detail: "control-api-fixture: VMs are recorded in memory; no guest runs")
  }

  func shutdown() {
    state.withLock { $0.stopped = true }
  }

  private static func id(of vm: VMReference, in state: State) throws(ControlBackendError) -> UInt64 {
    switch vm {
    case .id(let id): return id
    case .name(let name):
      guard let id = state.names[name] else { try missing(vm) }
      return id
    }
  }

  private static func missing(_ vm: VMReference) throws(ControlBackendError) -> Never {
    throw .notFound("no such VM: \(vm)")
  }

  /// The last `lines` lines of `bytes` (0: all).
  static func tail(_ bytes: [UInt8], lines: Int) -> [UInt8] {
    guard lines > 0 else { return bytes }
    var newlines = 0
    var index = bytes.count
    if bytes.last == 0x0A { index -= 1 }
    while index > 0 {
      if bytes[index - 1] == 0x0A {
        newlines += 1
        if newlines == lines { break }
      }
      index -= 1
    }
    return Array(bytes[index...])
  }
}

/// A subscription that runs a closure when cancelled.
struct Subscription: ConsoleSubscription {
  let cancelAction: @Sendable () -> Void
  init(cancel: @escaping @Sendable () -> Void) { cancelAction = cancel }
  func cancel() { cancelAction() }
}
