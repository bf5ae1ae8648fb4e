// NetworkCounters.swift: packets, bytes and drops by reason, for one VM's NIC or for the whole switch.

/// Why the switch did not deliver a frame. Every frame that is not delivered is counted under one reason.
public enum DropReason: Int, CaseIterable, Sendable, CustomStringConvertible {
  /// The sender used a source MAC or IPv4 address (Ethernet header, IPv4 header or ARP body) not its own.
  case spoofedSource
  /// Shorter than an Ethernet header, longer than 1514 bytes, or a truncated IPv4/ARP header.
  case malformed
  /// An EtherType other than IPv4 and ARP (VMs may send only those).
  case unsupportedProtocol
  /// No VM has the destination MAC and there is no uplink (or it came from the uplink).
  case unknownDestination
  /// A broadcast or multicast frame that is not ARP from the uplink: the switch never floods VMs.
  case notFlooded
  /// The destination VM's receive queue was full.
  case receiveQueueFull
  /// Frames from the host waited for the switch thread and its queue was full.
  case uplinkQueueFull
  /// Writing the frame to the TAP device failed.
  case uplinkError
  /// A frame (or ARP request) from one VM to another while the switch keeps VMs apart (`vm-to-vm = deny`).
  case vmToVMDenied
  /// The destination VM's queue had room, but all VMs' receive queues together held their limit of bytes
  /// (`receive-memory`).
  case receiveMemoryFull

  /// A short name for reports (spoofed, malformed, ...).
  public var description: String {
    switch self {
    case .spoofedSource: "spoofed"
    case .malformed: "malformed"
    case .unsupportedProtocol: "unsupported-protocol"
    case .unknownDestination: "unknown-destination"
    case .notFlooded: "not-flooded"
    case .receiveQueueFull: "receive-queue-full"
    case .uplinkQueueFull: "uplink-queue-full"
    case .uplinkError: "uplink-error"
    case .vmToVMDenied: "vm-to-vm-denied"
    case .receiveMemoryFull: "receive-memory-full"
    }
  }
}

/// Traffic counters. For a VM's port: "in" counts frames the guest received, "out" frames it sent; drops
/// count its own frames the switch refused (spoofed, malformed, ...) and frames for it that its full
/// receive queue could not hold.
public struct NetworkCounters: Equatable, Sendable {
  /// Frames received by the guest (taken with NET_RECV), and their bytes.
  public var packetsIn: UInt64 = 0, bytesIn: UInt64 = 0
  /// Frames sent by the guest (accepted by NET_SEND), and their bytes.
  public var packetsOut: UInt64 = 0, bytesOut: UInt64 = 0
  /// Sends refused with DENALI_EAGAIN because the transmit queue was full (the guest kept the frame).
  public var sendsDeferred: UInt64 = 0
  /// Frames dropped, indexed by `DropReason.rawValue`.
  public var drops = [UInt64](repeating: 0, count: DropReason.allCases.count)

  /// An all-zero set of counters.
  public init() {}

  /// Frames dropped for `reason`.
  public subscript(reason: DropReason) -> UInt64 {
    get { drops[reason.rawValue] }
    set { drops[reason.rawValue] = newValue }
  }

  /// Frames dropped for any reason.
  public var totalDrops: UInt64 { drops.reduce(0, &+) }

  /// Counts one drop.
  mutating func drop(_ reason: DropReason) { drops[reason.rawValue] &+= 1 }

  /// Adds `other` field by field (for totals).
  public mutating func add(_ other: NetworkCounters) {
    packetsIn &+= other.packetsIn
    bytesIn &+= other.bytesIn
    packetsOut &+= other.packetsOut
    bytesOut &+= other.bytesOut
    sendsDeferred &+= other.sendsDeferred
    for index in drops.indices { drops[index] &+= other.drops[index] }
  }

  /// "in P packets B bytes, out P packets B bytes, dropped N (spoofed 3, ...)".
  public var summary: String {
    var text =
      "in \(packetsIn) packets \(bytesIn) bytes, out \(packetsOut) packets \(bytesOut) bytes, dropped \(totalDrops)"
    let reasons = DropReason.allCases.filter { self[$0] > 0 }.map { "\($0) \(self[$0])" }
    if !reasons.isEmpty { text += " (" + reasons.joined(separator: ", ") + ")" }
    if sendsDeferred > 0 { text += ", sends deferred \(sendsDeferred)" }
    return text
  }
}
