// EthernetFrame.swift: one Ethernet frame (no FCS) and the header fields the switch reads, all bounds-checked.
import DenaliABI

/// An Ethernet II frame as bytes, from the destination MAC to the end of the payload (no preamble, no FCS).
/// Accessors that need more bytes than the frame has return nil: a short or malformed frame never traps.
public struct EthernetFrame: Sendable {
  /// EtherType of IPv4.
  public static let ipv4: UInt16 = 0x0800
  /// EtherType of ARP.
  public static let arp: UInt16 = 0x0806
  /// Smallest frame the switch accepts: an Ethernet header (`DENALI_NET_FRAME_MIN`).
  public static let minimumLength = Int(DENALI_NET_FRAME_MIN)
  /// Largest frame: header plus a 1500-byte payload (`DENALI_NET_FRAME_MAX`).
  public static let maximumLength = Int(DENALI_NET_FRAME_MAX)

  /// The frame's bytes.
  public var bytes: [UInt8]

  /// A frame over `bytes` (not checked; see `hasValidLength`).
  public init(bytes: [UInt8]) { self.bytes = bytes }

  /// Number of bytes.
  public var length: Int { bytes.count }
  /// Whether the length is within `minimumLength...maximumLength`.
  public var hasValidLength: Bool { (Self.minimumLength...Self.maximumLength).contains(bytes.count) }

  /// Destination MAC (bytes 0-5).
  public var destination: MACAddress? { bytes.count >= 6 ? MACAddress(bytes: bytes, at: 0) : nil }
  /// Source MAC (bytes 6-11).
  public var source: MACAddress? { bytes.count >= 12 ? MACAddress(bytes: bytes, at: 6) : nil }
  /// EtherType (bytes 12-13, big-endian).
  public var etherType: UInt16? { bytes.count >= 14 ? UInt16(bytes[12]) << 8 | UInt16(bytes[13]) : nil }

  /// The IPv4 source address, if this is an IPv4 frame long enough to carry a minimal header.
  public var ipv4Source: IPv4Address? {
    guard etherType == Self.ipv4, bytes.count >= 14 + 20 else { return nil }
    return IPv4Address(bytes: bytes, at: 26)
  }

  /// The ARP message, if this is an ARP frame for Ethernet and IPv4 (28 bytes after the header).
  public var arp: ARPMessage? {
    guard etherType == Self.arp, bytes.count >= 14 + 28 else { return nil }
    // hardware type 1 (Ethernet), protocol 0x0800, lengths 6 and 4.
    guard bytes[14] == 0, bytes[15] == 1, bytes[16] == 0x08, bytes[17] == 0, bytes[18] == 6, bytes[19] == 4 else {
      return nil
    }
    return ARPMessage(
      operation: UInt16(bytes[20]) << 8 | UInt16(bytes[21]),
      senderMAC: MACAddress(bytes: bytes, at: 22), senderIP: IPv4Address(bytes: bytes, at: 28),
      targetMAC: MACAddress(bytes: bytes, at: 32), targetIP: IPv4Address(bytes: bytes, at: 38))
  }
}

/// An ARP message for IPv4 over Ethernet.
public struct ARPMessage: Equatable, Sendable {
  /// ARP request.
  public static let request: UInt16 = 1
  /// ARP reply.
  public static let reply: UInt16 = 2

  /// 1 request, 2 reply.
  public var operation: UInt16
  /// Who sends it.
  public var senderMAC: MACAddress
  /// Its IPv4 address.
  public var senderIP: IPv4Address
  /// The target's MAC (zero in a request).
  public var targetMAC: MACAddress
  /// The address being asked about.
  public var targetIP: IPv4Address

  /// An ARP message.
  public init(
    operation: UInt16, senderMAC: MACAddress, senderIP: IPv4Address, targetMAC: MACAddress, targetIP: IPv4Address
  ) {
    self.operation = operation
    self.senderMAC = senderMAC
    self.senderIP = senderIP
    self.targetMAC = targetMAC
    self.targetIP = targetIP
  }

  /// The 42-byte Ethernet frame carrying this message from `senderMAC` to `destination`.
  public func frame(to destination: MACAddress) -> EthernetFrame {
    var bytes = [UInt8](repeating: 0, count: 42)
    destination.store(into: &bytes, at: 0)
    senderMAC.store(into: &bytes, at: 6)
    bytes[12] = 0x08
    bytes[13] = 0x06
    bytes[14] = 0
    bytes[15] = 1
    bytes[16] = 0x08
    bytes[17] = 0
    bytes[18] = 6
    bytes[19] = 4
    bytes[20] = UInt8(operation >> 8)
    bytes[21] = UInt8(truncatingIfNeeded: operation)
    senderMAC.store(into: &bytes, at: 22)
    senderIP.store(into: &bytes, at: 28)
    targetMAC.store(into: &bytes, at: 32)
    targetIP.store(into: &bytes, at: 38)
    return EthernetFrame(bytes: bytes)
  }
}
