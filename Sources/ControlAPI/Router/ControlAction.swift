// ControlAction.swift: every request the API understands, parsed into one value (Firecracker style).

/// One parsed request. The router produces it from method, path, query and body; the dispatcher carries it out.
public enum ControlAction: Equatable, Sendable {
  /// `POST /v1/vms`: create VMs (the body is decoded; its values are checked when it is carried out).
  case createVMs(CreateVMsBody)
  /// `GET /v1/vms`.
  case listVMs
  /// `GET /v1/vms/{vm}`.
  case inspectVM(VMReference)
  /// `POST /v1/vms/{vm}/kill` (no body): stop it; its record stays, in state `killed`.
  case killVM(VMReference)
  /// `GET /v1/vms/{vm}/console?tail=N&follow=BOOL`.
  case readConsole(VMReference, tail: Int, follow: Bool)
  /// `GET /v1/stats`.
  case statistics
  /// `GET /v1/metrics`: Prometheus text format.
  case metrics
  /// `GET /v1/health`.
  case health

  /// A label for logs and the request counter (the route, not the VM).
  public var route: String {
    switch self {
    case .createVMs: "create_vms"
    case .listVMs: "list_vms"
    case .inspectVM: "inspect_vm"
    case .killVM: "kill_vm"
    case .readConsole: "console"
    case .statistics: "stats"
    case .metrics: "metrics"
    case .health: "health"
    }
  }

  /// True for requests that change state (refused with 503 while the daemon stops).
  public var changesState: Bool {
    switch self {
    case .createVMs, .killVM: true
    default: false
    }
  }
}
