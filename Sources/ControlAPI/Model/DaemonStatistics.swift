// DaemonStatistics.swift: daemon-wide figures for GET /v1/stats and the Prometheus metrics.

/// Daemon-wide figures, read from the engine at one moment.
public struct DaemonStatistics: Equatable, Sendable {
  /// Seconds since the daemon started.
  public var uptimeSeconds: Double
  /// VMs the engine keeps, by state (states with none may be absent).
  public var vmsByState: [VMStateKind: Int]
  /// VMs created since the daemon started.
  public var vmsCreatedTotal: UInt64
  /// The gatekeeper's memory budget for resident guests, in bytes.
  public var memoryBudgetBytes: UInt64
  /// Guest memory of resident VMs (their configured sizes), in bytes.
  public var memoryAdmittedBytes: UInt64
  /// Host memory resident guests occupy now, in bytes.
  public var memoryResidentBytes: UInt64
  /// Bytes in swap files.
  public var swapBytes: UInt64
  /// Whole-VM swap-outs since start.
  public var swapOutsTotal: UInt64
  /// Whole-VM swap-ins since start.
  public var swapInsTotal: UInt64
  /// CPU time all VMs used, in nanoseconds.
  public var cpuTimeNanosecondsTotal: UInt64
  /// VM exits to the host since start.
  public var exitsTotal: UInt64
  /// Hypercalls since start.
  public var hypercallsTotal: UInt64
  /// Worker threads running vCPUs.
  public var workers: Int
  /// The virtual network, nil when the daemon has none.
  public var network: NetworkStatistics?

  /// Figures; the counters default to zero.
  public init(
    uptimeSeconds: Double, vmsByState: [VMStateKind: Int] = [:], vmsCreatedTotal: UInt64 = 0,
    memoryBudgetBytes: UInt64 = 0, memoryAdmittedBytes: UInt64 = 0, memoryResidentBytes: UInt64 = 0,
    swapBytes: UInt64 = 0, swapOutsTotal: UInt64 = 0, swapInsTotal: UInt64 = 0, cpuTimeNanosecondsTotal: UInt64 = 0,
    exitsTotal: UInt64 = 0, hypercallsTotal: UInt64 = 0, workers: Int = 0, network: NetworkStatistics? = nil
  ) {
    self.uptimeSeconds = uptimeSeconds
    self.vmsByState = vmsByState
    self.vmsCreatedTotal = vmsCreatedTotal
    self.memoryBudgetBytes = memoryBudgetBytes
    self.memoryAdmittedBytes = memoryAdmittedBytes
    self.memoryResidentBytes = memoryResidentBytes
    self.swapBytes = swapBytes
    self.swapOutsTotal = swapOutsTotal
    self.swapInsTotal = swapInsTotal
    self.cpuTimeNanosecondsTotal = cpuTimeNanosecondsTotal
    self.exitsTotal = exitsTotal
    self.hypercallsTotal = hypercallsTotal
    self.workers = workers
    self.network = network
  }

  /// VMs in every state.
  public var vmsTotal: Int { vmsByState.values.reduce(0, +) }
}

extension DaemonStatistics: Codable {
  private enum CodingKeys: String, CodingKey {
    case uptimeSeconds = "uptime_seconds"
    case vms
    case vmsCreatedTotal = "vms_created_total"
    case memoryBudgetBytes = "memory_budget_bytes"
    case memoryAdmittedBytes = "memory_admitted_bytes"
    case memoryResidentBytes = "memory_resident_bytes"
    case swapBytes = "swap_bytes"
    case swapOutsTotal = "swap_outs_total"
    case swapInsTotal = "swap_ins_total"
    case cpuTimeNanosecondsTotal = "cpu_time_ns_total"
    case exitsTotal = "exits_total"
    case hypercallsTotal = "hypercalls_total"
    case workers, network
  }

  /// `vms` is an object with `total` and one count per state (every state, zeros included).
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(uptimeSeconds, forKey: .uptimeSeconds)
    var counts = ["total": vmsTotal]
    for kind in VMStateKind.allCases { counts[kind.rawValue] = vmsByState[kind] ?? 0 }
    try container.encode(counts, forKey: .vms)
    try container.encode(vmsCreatedTotal, forKey: .vmsCreatedTotal)
    try container.encode(memoryBudgetBytes, forKey: .memoryBudgetBytes)
    try container.encode(memoryAdmittedBytes, forKey: .memoryAdmittedBytes)
    try container.encode(memoryResidentBytes, forKey: .memoryResidentBytes)
    try container.encode(swapBytes, forKey: .swapBytes)
    try container.encode(swapOutsTotal, forKey: .swapOutsTotal)
    try container.encode(swapInsTotal, forKey: .swapInsTotal)
    try container.encode(cpuTimeNanosecondsTotal, forKey: .cpuTimeNanosecondsTotal)
    try container.encode(exitsTotal, forKey: .exitsTotal)
    try container.encode(hypercallsTotal, forKey: .hypercallsTotal)
    try container.encode(workers, forKey: .workers)
    try container.encode(network, forKey: .network)
  }

  /// Decodes what `encode(to:)` writes (the client's side).
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    uptimeSeconds = try container.decode(Double.self, forKey: .uptimeSeconds)
    let counts = try container.decode([String: Int].self, forKey: .vms)
    var byState: [VMStateKind: Int] = [:]
    for (key, count) in counts { if let kind = VMStateKind(rawValue: key) { byState[kind] = count } }
    vmsByState = byState
    vmsCreatedTotal = try container.decode(UInt64.self, forKey: .vmsCreatedTotal)
    memoryBudgetBytes = try container.decode(UInt64.self, forKey: .memoryBudgetBytes)
    memoryAdmittedBytes = try container.decode(UInt64.self, forKey: .memoryAdmittedBytes)
    memoryResidentBytes = try container.decode(UInt64.self, forKey: .memoryResidentBytes)
    swapBytes = try container.decode(UInt64.self, forKey: .swapBytes)
    swapOutsTotal = try container.decode(UInt64.self, forKey: .swapOutsTotal)
    swapInsTotal = try container.decode(UInt64.self, forKey: .swapInsTotal)
    cpuTimeNanosecondsTotal = try container.decode(UInt64.self, forKey: .cpuTimeNanosecondsTotal)
    exitsTotal = try container.decode(UInt64.self, forKey: .exitsTotal)
    hypercallsTotal = try container.decode(UInt64.self, forKey: .hypercallsTotal)
    workers = try container.decode(Int.self, forKey: .workers)
    network = try container.decodeIfPresent(NetworkStatistics.self, forKey: .network)
  }
}
