// ControlDispatcher.swift: carries out a ControlAction against the backend and builds the response.
import Foundation
import Synchronization

/// Carries out actions. Runs on the server's blocking pool, never on its event loop, since the backend may block.
public final class ControlDispatcher: Sendable {
  /// The engine.
  public let backend: any ControlBackend
  /// The limits create requests are checked against.
  public let limits: ControlLimits
  /// Where images may come from.
  public let images: ImageResolver
  /// The metrics exposition.
  public let metrics: ControlMetrics
  /// The daemon's version, for health answers.
  public let version: DaemonVersion
  private let accepting = Atomic<Bool>(true)

  /// A dispatcher over `backend`.
  public init(
    backend: any ControlBackend, limits: ControlLimits, images: ImageResolver, metrics: ControlMetrics,
    version: DaemonVersion = .unknown
  ) {
    self.backend = backend
    self.limits = limits
    self.images = images
    self.metrics = metrics
    self.version = version
  }

  /// True until `stopAccepting()`: afterwards requests that change state get 503 and health reports `stopping`.
  public var isAccepting: Bool { accepting.load(ordering: .acquiring) }

  /// Refuses state-changing requests from now on (the daemon is stopping).
  public func stopAccepting() { accepting.store(false, ordering: .releasing) }

  /// The response to `action` from `caller` (follow requests are streamed by the HTTP handler instead). A caller
  /// that is not an administrator sees and acts on its own VMs only: another user's VM is answered exactly as
  /// a VM that does not exist (404), so ids and names of other users' VMs do not leak.
  public func perform(_ action: ControlAction, caller: ControlCaller = .root) -> ControlResponse {
    do throws(ControlError) {
      if action.changesState && !isAccepting { throw .notAccepting("denalid is shutting down and accepts no new work") }
      return try respond(to: action, caller: caller)
    } catch {
      return .error(error)
    }
  }

  private func respond(to action: ControlAction, caller: ControlCaller) throws(ControlError) -> ControlResponse {
    switch action {
    case .createVMs(let body):
      var request = try body.validated(limits: limits, images: images)
      request.requester = caller
      let result = try backendCall { () throws(ControlBackendError) in try backend.createVMs(request) }
      return .json(
        CreateVMsResponse(vms: result.created, stopped: result.stoppedBy.map { ControlError($0).body }), status: 201)
    case .listVMs:
      return .json(VMListResponse(vms: visibleVMs(to: caller)))
    case .inspectVM(let vm):
      return .json(try owned(vm, by: caller))
    case .killVM(let vm):
      let target = try reference(to: vm, for: caller)
      return .json(try backendCall { () throws(ControlBackendError) in try backend.killVM(target) })
    case .readConsole(let vm, let tail, _):
      let target = try reference(to: vm, for: caller)
      let bytes = try backendCall { () throws(ControlBackendError) in try backend.consoleTail(target, lines: tail) }
      return ControlResponse(status: 200, contentType: "text/plain", body: bytes)
    case .statistics:
      return .json(backend.statistics())
    case .metrics:
      return ControlResponse(
        status: 200, contentType: "text/plain; version=0.0.4",
        body: metrics.render(backend.statistics(), vms: visibleVMs(to: caller)))
    case .health:
      let health = backend.health()
      let status = !isAccepting ? "stopping" : health.healthy ? "ok" : "unhealthy"
      return .json(
        HealthResponse(status: status, accepting: isAccepting, detail: health.detail, version: version),
        status: status == "ok" ? 200 : 503)
    }
  }

  /// Subscribes `caller` to a console for a follow request (its own VM's, or any for an administrator).
  public func follow(
    _ vm: VMReference, tail: Int, caller: ControlCaller = .root, handler: @escaping @Sendable (ConsoleEvent) -> Void
  ) throws(ControlError) -> any ConsoleSubscription {
    let target = try reference(to: vm, for: caller)
    return try backendCall { () throws(ControlBackendError) in
      try backend.followConsole(target, tailLines: tail, handler: handler)
    }
  }

  /// The VMs `caller` may see, in the backend's order.
  private func visibleVMs(to caller: ControlCaller) -> [VMInfo] {
    let all = backend.listVMs()
    return caller.isAdmin ? all : all.filter { caller.mayAccess(owner: $0.owner) }
  }

  /// The VM `vm` names, when `caller` may see it. For anyone but an administrator, a VM that does not exist and
  /// another user's VM get the same answer, worded here (whatever the backend's wording).
  private func owned(_ vm: VMReference, by caller: ControlCaller) throws(ControlError) -> VMInfo {
    let info: VMInfo
    do {
      info = try backend.inspectVM(vm)
    } catch {
      if case .notFound = error, !caller.isAdmin { throw Self.notFound(vm) }
      throw ControlError(error)
    }
    guard caller.mayAccess(owner: info.owner) else { throw Self.notFound(vm) }
    return info
  }

  /// What to act on for `caller`: `vm` itself for an administrator; for anyone else the id of the VM `vm` names,
  /// once it is known to be theirs (an id is never given out twice, so the VM checked is the VM acted on).
  private func reference(to vm: VMReference, for caller: ControlCaller) throws(ControlError) -> VMReference {
    guard !caller.isAdmin else { return vm }
    return .id(try owned(vm, by: caller).id)
  }

  /// The answer for a VM that does not exist, as the engine words it (`no vm 12`), also for another user's VM.
  static func notFound(_ vm: VMReference) -> ControlError { .vmNotFound("no \(vm)") }

  private func backendCall<T>(_ body: () throws(ControlBackendError) -> T) throws(ControlError) -> T {
    do {
      return try body()
    } catch {
      throw ControlError(error)
    }
  }
}
