// VMNetworkInfo.swift: a VM's NIC as the control API reports it: its MAC and its traffic, drops by reason.

/// The NIC of a VM that has an address: identity and counters over the VM's whole life (every run).
public struct VMNetworkInfo: Codable, Equatable, Sendable {
  /// The MAC address (`02:00` then the four bytes of the IPv4 address).
  public var mac: String
  /// True while the VM is live with its port on the switch (false once it ended, or when a restart could not
  /// give it its address back: the log says why).
  public var attached: Bool
  /// Frames the guest received, and their bytes.
  public var packetsIn: UInt64, bytesIn: UInt64
  /// Frames the guest sent, and their bytes.
  public var packetsOut: UInt64, bytesOut: UInt64
  /// Sends refused because the guest's transmit queue was full (the guest kept the frame and retried).
  public var sendsDeferred: UInt64
  /// Frames dropped, by reason (`receive-queue-full`, `receive-memory-full`, `vm-to-vm-denied`, `spoofed`, ...;
  /// only reasons with a count).
  public var drops: [String: UInt64]
  /// Frames waiting in its receive queue now (for an idle or swapped-out VM: what will wake it).
  public var queuedFrames: Int

  /// A NIC's figures.
  public init(
    mac: String, attached: Bool, packetsIn: UInt64 = 0, bytesIn: UInt64 = 0, packetsOut: UInt64 = 0,
    bytesOut: UInt64 = 0, sendsDeferred: UInt64 = 0, drops: [String: UInt64] = [:], queuedFrames: Int = 0
  ) {
    self.mac = mac
    self.attached = attached
    self.packetsIn = packetsIn
    self.bytesIn = bytesIn
    self.packetsOut = packetsOut
    self.bytesOut = bytesOut
    self.sendsDeferred = sendsDeferred
    self.drops = drops
    self.queuedFrames = queuedFrames
  }

  private enum CodingKeys: String, CodingKey {
    case mac, attached
    case packetsIn = "packets_in"
    case bytesIn = "bytes_in"
    case packetsOut = "packets_out"
    case bytesOut = "bytes_out"
    case sendsDeferred = "sends_deferred"
    case drops
    case queuedFrames = "queued_frames"
  }

  /// Frames dropped for any reason.
  public var totalDrops: UInt64 { drops.values.reduce(0, &+) }
}
