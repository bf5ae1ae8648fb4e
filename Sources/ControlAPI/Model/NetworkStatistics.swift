// NetworkStatistics.swift: the daemon's virtual network as GET /v1/stats and the metrics report it.

/// The switch's settings and figures (present only when the daemon has a network).
public struct NetworkStatistics: Codable, Equatable, Sendable {
  /// The VMs' subnet, such as `10.0.0.0/16`.
  public var subnet: String
  /// The uplink's host address (the VMs' gateway), nil without an uplink.
  public var gateway: String?
  /// The uplink, such as `tap dtap0`; nil for none.
  public var uplink: String?
  /// `allow` or `deny`: whether VMs may reach each other.
  public var vmToVM: String
  /// Addresses held by VMs now.
  public var addressesInUse: Int
  /// Addresses still free for new VMs.
  public var addressesFree: Int
  /// Frames the switch delivered or sent up the uplink.
  public var forwardedTotal: UInt64
  /// ARP requests the switch answered itself.
  public var arpAnsweredTotal: UInt64
  /// Frames (and bytes) the host sent in through the uplink, and the switch wrote out to the host.
  public var uplinkPacketsIn: UInt64, uplinkBytesIn: UInt64, uplinkPacketsOut: UInt64, uplinkBytesOut: UInt64
  /// Frames from the host the switch dropped, and failed writes to it, by reason.
  public var uplinkDrops: [String: UInt64]

  /// The network's figures.
  public init(
    subnet: String, gateway: String?, uplink: String?, vmToVM: String, addressesInUse: Int, addressesFree: Int,
    forwardedTotal: UInt64 = 0, arpAnsweredTotal: UInt64 = 0, uplinkPacketsIn: UInt64 = 0, uplinkBytesIn: UInt64 = 0,
    uplinkPacketsOut: UInt64 = 0, uplinkBytesOut: UInt64 = 0, uplinkDrops: [String: UInt64] = [:]
  ) {
    self.subnet = subnet
    self.gateway = gateway
    self.uplink = uplink
    self.vmToVM = vmToVM
    self.addressesInUse = addressesInUse
    self.addressesFree = addressesFree
    self.forwardedTotal = forwardedTotal
    self.arpAnsweredTotal = arpAnsweredTotal
    self.uplinkPacketsIn = uplinkPacketsIn
    self.uplinkBytesIn = uplinkBytesIn
    self.uplinkPacketsOut = uplinkPacketsOut
    self.uplinkBytesOut = uplinkBytesOut
    self.uplinkDrops = uplinkDrops
  }

  private enum CodingKeys: String, CodingKey {
    case subnet, gateway, uplink
    case vmToVM = "vm_to_vm"
    case addressesInUse = "addresses_in_use"
    case addressesFree = "addresses_free"
    case forwardedTotal = "forwarded_total"
    case arpAnsweredTotal = "arp_answered_total"
    case uplinkPacketsIn = "uplink_packets_in"
    case uplinkBytesIn = "uplink_bytes_in"
    case uplinkPacketsOut = "uplink_packets_out"
    case uplinkBytesOut = "uplink_bytes_out"
    case uplinkDrops = "uplink_drops"
  }

  /// Encodes every field, a missing gateway or uplink as null.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(subnet, forKey: .subnet)
    try container.encode(gateway, forKey: .gateway)
    try container.encode(uplink, forKey: .uplink)
    try container.encode(vmToVM, forKey: .vmToVM)
    try container.encode(addressesInUse, forKey: .addressesInUse)
    try container.encode(addressesFree, forKey: .addressesFree)
    try container.encode(forwardedTotal, forKey: .forwardedTotal)
    try container.encode(arpAnsweredTotal, forKey: .arpAnsweredTotal)
    try container.encode(uplinkPacketsIn, forKey: .uplinkPacketsIn)
    try container.encode(uplinkBytesIn, forKey: .uplinkBytesIn)
    try container.encode(uplinkPacketsOut, forKey: .uplinkPacketsOut)
    try container.encode(uplinkBytesOut, forKey: .uplinkBytesOut)
    try container.encode(uplinkDrops, forKey: .uplinkDrops)
  }
}
