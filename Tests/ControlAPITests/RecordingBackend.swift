// RecordingBackend.swift: a ControlBackend for the API's own tests: records every call, keeps VMs in memory.
import ControlAPI
import Foundation
import Synchronization

/// Keeps VM records in memory (nothing runs) and records each call, so tests can check what reached the
/// engine (and that refused requests did not). Tests push console output with `emit` and end VMs with `finish`.
final class RecordingBackend: ControlBackend {
  struct State {
    var calls: [String] = []
    var vms: [VMInfo] = []
    var consoles: [UInt64: [UInt8]] = [:]
    var followers: [UInt64: [Int: @Sendable (ConsoleEvent) -> Void]] = [:]
    var nextFollower = 0
    var createFailure: ControlBackendError?
    var healthy = true
    var started = false
    var shutDown = false
  }

  let state = Mutex(State())
  let maximumVMs: Int

  init(maximumVMs: Int = 1000) { self.maximumVMs = maximumVMs }

  /// The calls so far, such as `create count=2 memory=4194304`.
  var calls: [String] { state.withLock { $0.calls } }

  func start() throws { state.withLock { $0.started = true } }

  func createVMs(_ request: VMCreationRequest) throws(ControlBackendError) -> VMCreationResult {
    try state.withLock { state throws(ControlBackendError) in
      state.calls.append(
        "create image=\(request.image.path) count=\(request.count) memory=\(request.memoryBytes) disk=\(request.diskBytes.map(String.init) ?? "none") names=\(request.names?.joined(separator: ",") ?? "none") arguments=\(request.arguments.joined(separator: ","))"
          + (request.network.map { " network=\($0.address ?? "auto")" } ?? "")
          + (request.diskImage.map { " disk-image=\($0.path) (\($0.bytes.count) bytes)" } ?? ""))
      if let failure = state.createFailure { throw failure }
      guard state.vms.count + request.count <= maximumVMs else {
        throw .limitReached("the daemon's limit of \(maximumVMs) VMs")
      }
      if let taken = request.names?.first(where: { name in state.vms.contains { $0.name == name } }) {
        throw .conflict("the name '\(taken)' is already in use")
      }
      var created: [VMInfo] = []
      for index in 0..<request.count {
        let id = UInt64(state.vms.count + 1)
        // A NIC at the address asked for, else 10.0.0.(id + 1), with made-up counters.
        let address = request.network.map { $0.address ?? "10.0.0.\(id + 1)" }
        let network = address.map { _ in
          VMNetworkInfo(
            mac: "02:00:0a:00:00:\(id + 1)", attached: true, packetsIn: 3, bytesIn: 300, packetsOut: 2, bytesOut: 200,
            drops: ["vm-to-vm-denied": 4], queuedFrames: 1)
        }
        let info = VMInfo(
          id: id, name: request.names?[index], image: request.image.path, state: .runnable,
          memoryBytes: request.memoryBytes,
          diskBytes: request.diskBytes ?? request.diskImage.map { UInt64($0.bytes.count) } ?? 0,
          arguments: request.arguments, exits: ["io": 0], createdAt: Date(timeIntervalSince1970: 1_800_000_000),
          address: address, network: network, owner: request.requester.uid, diskImage: request.diskImage?.path)
        state.vms.append(info)
        state.consoles[info.id] = Array("booted \(info.id)\n".utf8)
        created.append(info)
      }
      return VMCreationResult(created: created)
    }
  }

  func listVMs() -> [VMInfo] {
    state.withLock {
      $0.calls.append("list")
      return $0.vms
    }
  }

  func inspectVM(_ vm: VMReference) throws(ControlBackendError) -> VMInfo {
    try state.withLock { state throws(ControlBackendError) in
      state.calls.append("inspect \(vm)")
      return state.vms[try Self.index(of: vm, in: state)]
    }
  }

  func killVM(_ vm: VMReference) throws(ControlBackendError) -> VMInfo {
    let (info, followers) = try state.withLock { state throws(ControlBackendError) in
      state.calls.append("kill \(vm)")
      let index = try Self.index(of: vm, in: state)
      guard !state.vms[index].state.isFinished else { throw .conflict("\(vm) has already finished") }
      state.vms[index].state = .killed
      let followers = state.followers.removeValue(forKey: state.vms[index].id) ?? [:]
      return (state.vms[index], Array(followers.values))
    }
    for follower in followers { follower(.ended(.killed)) }
    return info
  }

  func consoleTail(_ vm: VMReference, lines: Int) throws(ControlBackendError) -> [UInt8] {
    try state.withLock { state throws(ControlBackendError) in
      state.calls.append("tail \(vm) \(lines)")
      return state.consoles[state.vms[try Self.index(of: vm, in: state)].id] ?? []
    }
  }

  func followConsole(
    _ vm: VMReference, tailLines: Int, handler: @escaping @Sendable (ConsoleEvent) -> Void
  ) throws(ControlBackendError) -> any ConsoleSubscription {
    try state.withLock { state throws(ControlBackendError) in
      state.calls.append("follow \(vm) \(tailLines)")
      let vmInfo = state.vms[try Self.index(of: vm, in: state)]
      handler(.output(state.consoles[vmInfo.id] ?? []))
      if vmInfo.state.isFinished {
        handler(.ended(vmInfo.state))
        return TestSubscription {}
      }
      let key = state.nextFollower
      state.nextFollower += 1
      state.followers[vmInfo.id, default: [:]][key] = handler
      return TestSubscription { [weak self] in
        _ = self?.state.withLock { $0.followers[vmInfo.id]?.removeValue(forKey: key) }
      }
    }
  }

  /// Appends console output of VM `id` and passes it to its followers.
  func emit(_ id: UInt64, _ text: String) {
    let followers = state.withLock { state in
      state.consoles[id, default: []] += Array(text.utf8)
      return Array((state.followers[id] ?? [:]).values)
    }
    for follower in followers { follower(.output(Array(text.utf8))) }
  }

  /// The number of live console subscriptions of VM `id`.
  func followerCount(_ id: UInt64) -> Int { state.withLock { $0.followers[id]?.count ?? 0 } }

  func statistics() -> DaemonStatistics {
    state.withLock { state in
      state.calls.append("statistics")
      var byState: [VMStateKind: Int] = [:]
      for vm in state.vms { byState[vm.state.kind, default: 0] += 1 }
      return DaemonStatistics(
        uptimeSeconds: 12.5, vmsByState: byState, vmsCreatedTotal: UInt64(state.vms.count), memoryBudgetBytes: 1 << 30,
        exitsTotal: 7, hypercallsTotal: 3, workers: 2)
    }
  }

  func health() -> BackendHealth {
    state.withLock { BackendHealth(healthy: $0.healthy, detail: $0.healthy ? "ok" : "engine wedged") }
  }

  func shutdown() { state.withLock { $0.shutDown = true } }

  private static func index(of vm: VMReference, in state: State) throws(ControlBackendError) -> Int {
    let index: Int?
    switch vm {
    case .id(let id): index = state.vms.firstIndex { $0.id == id }
    case .name(let name): index = state.vms.firstIndex { $0.name == name }
    }
    guard let index else { throw .notFound("no such VM: \(vm)") }
    return index
  }
}

/// A subscription that runs a closure on cancel.
struct TestSubscription: ConsoleSubscription {
  let onCancel: @Sendable () -> Void
  init(_ onCancel: @escaping @Sendable () -> Void) { self.onCancel = onCancel }
  func cancel() { onCancel() }
}
