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

  /// The response to `action` (follow requests are streamed by the HTTP handler instead).
  public func perform(_ action: ControlAction) -> ControlResponse {
    do throws(ControlError) {
      if action.changesState && !isAccepting { throw .notAccepting("denalid is shutting down and accepts no new work") }
      return try respond(to: action)
    } catch {
      return .error(error)
    }
  }

  private func respond(to action: ControlAction) throws(ControlError) -> ControlResponse {
    switch action {
    case .createVMs(let body):
      let request = try body.validated(limits: limits, images: images)
      let result = try backendCall { () throws(ControlBackendError) in try backend.createVMs(request) }
      return .json(CreateVMsResponse(vms: result.created, stopped: result.stoppedBy.map { ControlError($0).body }), status: 201)
    case .listVMs:
      return .json(VMListResponse(vms: backend.listVMs()))
    case .inspectVM(let vm):
      return .json(try backendCall { () throws(ControlBackendError) in try backend.inspectVM(vm) })
    case .killVM(let vm):
      return .json(try backendCall { () throws(ControlBackendError) in try backend.killVM(vm) })
    case .readConsole(let vm, let tail, _):
      let bytes = try backendCall { () throws(ControlBackendError) in try backend.consoleTail(vm, lines: tail) }
      return ControlResponse(status: 200, contentType: "text/plain", body: bytes)
    case .statistics:
      return .json(backend.statistics())
    case .metrics:
      return ControlResponse(
        status: 200, contentType: "text/plain; version=0.0.4", body: metrics.render(backend.statistics(), vms: backend.listVMs()))
    case .health:
      let health = backend.health()
      let status = !isAccepting ? "stopping" : health.healthy ? "ok" : "unhealthy"
      return .json(
        HealthResponse(status: status, accepting: isAccepting, detail: health.detail, version: version),
        status: status == "ok" ? 200 : 503)
    }
  }

  /// Subscribes to a console for a follow request.
  public func follow(
    _ vm: VMReference, tail: Int, handler: @escaping @Sendable (ConsoleEvent) -> Void
  ) throws(ControlError) -> any ConsoleSubscription {
    try backendCall { () throws(ControlBackendError) in try backend.followConsole(vm, tailLines: tail, handler: handler) }
  }

  private func backendCall<T>(_ body: () throws(ControlBackendError) -> T) throws(ControlError) -> T {
    do {
      return try body()
    } catch {
      throw ControlError(error)
    }
  }
}
