// VMInfo.swift: everything the control API reports about one VM (GET /v1/vms/{vm}).
import Foundation

/// One VM as reported by the engine.
public struct VMInfo: Equatable, Sendable {
  /// Unique, assigned by the engine, never reused while the daemon runs.
  public var id: UInt64
  /// Operator-chosen name, unique among the VMs the engine keeps; nil for an unnamed VM.
  public var name: String?
  /// The image's resolved path.
  public var image: String
  /// Where the VM is in its life.
  public var state: VMState
  /// Guest memory size in bytes.
  public var memoryBytes: UInt64
  /// Host memory the guest's pages occupy now, in bytes (0 when swapped out).
  public var residentBytes: UInt64
  /// Size of the VM's swap file in bytes (0 when it has none).
  public var swapBytes: UInt64
  /// Size of the VM's virtual disk in bytes (0 when it has none).
  public var diskBytes: UInt64
  /// The canonical path of the read-only disk image the VM shares, nil for a scratch disk or none.
  public var diskImage: String?
  /// Arguments passed to the guest.
  public var arguments: [String]
  /// CPU time the VM's slices used, in nanoseconds.
  public var cpuTimeNanoseconds: UInt64
  /// VM exits to the host by kind (for example `io`, `mmio`, `interrupted`, `other`).
  public var exits: [String: UInt64]
  /// Hypercalls the guest made.
  public var hypercalls: UInt64
  /// When the VM was created.
  public var createdAt: Date
  /// When it first ran, nil before.
  public var startedAt: Date?
  /// When it finished, nil before.
  public var endedAt: Date?
  /// What its current run started from: a fresh image, or a swap image after a restart.
  public var restoredFrom: RestoreSource
  /// Times the daemon restarted it (after a clean stop or a crash).
  public var restarts: Int
  /// Nanoseconds from the create request to the guest's first hypercall (nil before it, and after a restart).
  public var startLatencyNanoseconds: UInt64?
  /// Its IPv4 address on the daemon's network, nil for a VM without a NIC (kept for the VM's whole life).
  public var address: String?
  /// Its NIC's MAC and counters, nil for a VM without a NIC.
  public var network: VMNetworkInfo?
  /// The uid of the user whose request created it (SO_PEERCRED); only that user and administrators see it.
  public var owner: UInt32

  /// A VM record; the counters default to zero.
  public init(
    id: UInt64, name: String?, image: String, state: VMState, memoryBytes: UInt64, residentBytes: UInt64 = 0,
    swapBytes: UInt64 = 0, diskBytes: UInt64 = 0, arguments: [String] = [], cpuTimeNanoseconds: UInt64 = 0,
    exits: [String: UInt64] = [:], hypercalls: UInt64 = 0, createdAt: Date, startedAt: Date? = nil,
    endedAt: Date? = nil, restoredFrom: RestoreSource = .image, restarts: Int = 0,
    startLatencyNanoseconds: UInt64? = nil,
    address: String? = nil, network: VMNetworkInfo? = nil, owner: UInt32 = 0, diskImage: String? = nil
  ) {
    self.id = id
    self.name = name
    self.image = image
    self.state = state
    self.memoryBytes = memoryBytes
    self.residentBytes = residentBytes
    self.swapBytes = swapBytes
    self.diskBytes = diskBytes
    self.diskImage = diskImage
    self.arguments = arguments
    self.cpuTimeNanoseconds = cpuTimeNanoseconds
    self.exits = exits
    self.hypercalls = hypercalls
    self.createdAt = createdAt
    self.startedAt = startedAt
    self.endedAt = endedAt
    self.restoredFrom = restoredFrom
    self.restarts = restarts
    self.startLatencyNanoseconds = startLatencyNanoseconds
    self.address = address
    self.network = network
    self.owner = owner
  }
}

/// What a VM's current run started from.
public enum RestoreSource: String, Codable, Equatable, Sendable {
  /// Booted from its image.
  case image
  /// Resumed from its swap image (after a daemon restart).
  case swap
}

extension VMInfo: Codable {
  private enum CodingKeys: String, CodingKey {
    case id, name, image, state
    case exitStatus = "exit_status"
    case fault
    case memoryBytes = "memory_bytes"
    case residentBytes = "resident_bytes"
    case swapBytes = "swap_bytes"
    case diskBytes = "disk_bytes"
    case diskImage = "disk_image"
    case arguments
    case cpuTimeNanoseconds = "cpu_time_ns"
    case exits, hypercalls
    case createdAt = "created_at"
    case startedAt = "started_at"
    case endedAt = "ended_at"
    case restoredFrom = "restored_from"
    case restarts
    case startLatencyNanoseconds = "start_latency_ns"
    case address, network, owner
  }

  /// Encodes the state as `state` plus `exit_status` or `fault` when they apply; absent times are null.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(id, forKey: .id)
    try container.encode(name, forKey: .name)
    try container.encode(image, forKey: .image)
    try container.encode(state.kind, forKey: .state)
    switch state {
    case .exited(let status): try container.encode(status, forKey: .exitStatus)
    case .faulted(let description): try container.encode(description, forKey: .fault)
    default: break
    }
    try container.encode(memoryBytes, forKey: .memoryBytes)
    try container.encode(residentBytes, forKey: .residentBytes)
    try container.encode(swapBytes, forKey: .swapBytes)
    try container.encode(diskBytes, forKey: .diskBytes)
    try container.encode(diskImage, forKey: .diskImage)
    try container.encode(arguments, forKey: .arguments)
    try container.encode(cpuTimeNanoseconds, forKey: .cpuTimeNanoseconds)
    try container.encode(exits, forKey: .exits)
    try container.encode(hypercalls, forKey: .hypercalls)
    try container.encode(createdAt, forKey: .createdAt)
    try container.encode(startedAt, forKey: .startedAt)
    try container.encode(endedAt, forKey: .endedAt)
    try container.encode(restoredFrom, forKey: .restoredFrom)
    try container.encode(restarts, forKey: .restarts)
    try container.encode(startLatencyNanoseconds, forKey: .startLatencyNanoseconds)
    try container.encode(address, forKey: .address)
    try container.encode(network, forKey: .network)
    try container.encode(owner, forKey: .owner)
  }

  /// Decodes what `encode(to:)` writes (the client's side).
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    id = try container.decode(UInt64.self, forKey: .id)
    name = try container.decodeIfPresent(String.self, forKey: .name)
    image = try container.decode(String.self, forKey: .image)
    switch try container.decode(VMStateKind.self, forKey: .state) {
    case .running: state = .running
    case .runnable: state = .runnable
    case .idle: state = .idle
    case .waitingForAdmission: state = .waitingForAdmission
    case .swappedOut: state = .swappedOut
    case .swappingOut: state = .swappingOut
    case .swappingIn: state = .swappingIn
    case .exited: state = .exited(status: try container.decode(Int32.self, forKey: .exitStatus))
    case .faulted: state = .faulted(description: try container.decode(String.self, forKey: .fault))
    case .killed: state = .killed
    }
    memoryBytes = try container.decode(UInt64.self, forKey: .memoryBytes)
    residentBytes = try container.decode(UInt64.self, forKey: .residentBytes)
    swapBytes = try container.decode(UInt64.self, forKey: .swapBytes)
    diskBytes = try container.decode(UInt64.self, forKey: .diskBytes)
    diskImage = try container.decodeIfPresent(String.self, forKey: .diskImage)
    arguments = try container.decode([String].self, forKey: .arguments)
    cpuTimeNanoseconds = try container.decode(UInt64.self, forKey: .cpuTimeNanoseconds)
    exits = try container.decode([String: UInt64].self, forKey: .exits)
    hypercalls = try container.decode(UInt64.self, forKey: .hypercalls)
    createdAt = try container.decode(Date.self, forKey: .createdAt)
    startedAt = try container.decodeIfPresent(Date.self, forKey: .startedAt)
    endedAt = try container.decodeIfPresent(Date.self, forKey: .endedAt)
    restoredFrom = try container.decode(RestoreSource.self, forKey: .restoredFrom)
    restarts = try container.decodeIfPresent(Int.self, forKey: .restarts) ?? 0
    startLatencyNanoseconds = try container.decodeIfPresent(UInt64.self, forKey: .startLatencyNanoseconds)
    address = try container.decodeIfPresent(String.self, forKey: .address)
    network = try container.decodeIfPresent(VMNetworkInfo.self, forKey: .network)
    owner = try container.decodeIfPresent(UInt32.self, forKey: .owner) ?? 0
  }
}
