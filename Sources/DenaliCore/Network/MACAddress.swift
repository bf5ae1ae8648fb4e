// MACAddress.swift: a 48-bit Ethernet address, and the one the switch gives a VM with a given IPv4 address.

/// An Ethernet MAC address, first byte in the most significant of the 48 low bits.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
  /// The address in the low 48 bits (byte 0 of the wire order in bits 40-47).
  public let value: UInt64

  /// ff:ff:ff:ff:ff:ff.
  public static let broadcast = MACAddress(value: 0xFFFF_FFFF_FFFF)

  /// An address from its 48-bit value (higher bits are dropped).
  public init(value: UInt64) { self.value = value & 0xFFFF_FFFF_FFFF }

  /// An address from six bytes in wire order.
  public init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, _ b4: UInt8, _ b5: UInt8) {
    self.init(
      value: UInt64(b0) << 40 | UInt64(b1) << 32 | UInt64(b2) << 24 | UInt64(b3) << 16 | UInt64(b4) << 8 | UInt64(b5))
  }

  /// The address stored at `offset` in `bytes` (the caller checked `offset + 6 <= bytes.count`).
  init(bytes: [UInt8], at offset: Int) {
    self.init(
      bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3], bytes[offset + 4], bytes[offset + 5])
  }

  /// The locally administered, unicast address the switch gives the VM at `address`: 02:00 then the
  /// four bytes of the IPv4 address, so addresses are unique exactly when IPv4 addresses are.
  public init(forVMAt address: IPv4Address) {
    self.init(value: 0x0200_0000_0000 | UInt64(address.value))
  }

  /// The six bytes in wire order.
  public var bytes: [UInt8] { (0..<6).map { UInt8(truncatingIfNeeded: value >> (40 - 8 * UInt64($0))) } }

  /// Whether the group bit (the lowest bit of the first byte) is set: broadcast or multicast.
  public var isGroup: Bool { value & 0x0100_0000_0000 != 0 }

  /// aa:bb:cc:dd:ee:ff.
  public var description: String {
    bytes.map { byte in
      let digits = String(byte, radix: 16)
      return byte < 16 ? "0" + digits : digits
    }.joined(separator: ":")
  }

  /// Writes the six bytes in wire order at `offset` (the caller checked the range).
  func store(into bytes: inout [UInt8], at offset: Int) {
    for index in 0..<6 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (40 - 8 * UInt64(index))) }
  }
}
