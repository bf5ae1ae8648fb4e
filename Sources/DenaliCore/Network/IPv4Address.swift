// IPv4Address.swift: an IPv4 address and a subnet (address plus prefix length), parsed from operator input.

/// An IPv4 address; a.b.c.d is `value` 0xaabbccdd.
public struct IPv4Address: Hashable, Comparable, Sendable, CustomStringConvertible {
  /// The address as a big-endian number.
  public let value: UInt32

  /// 0.0.0.0.
  public static let zero = IPv4Address(value: 0)

  /// An address from its 32-bit value.
  public init(value: UInt32) { self.value = value }

  /// An address from its four bytes in network order.
  public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
    value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
  }

  /// Parses dotted-quad `text` (four decimal numbers 0-255); nil if malformed.
  public init?(_ text: some StringProtocol) {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    var value: UInt32 = 0
    for part in parts {
      guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let byte = UInt8(part) else { return nil }
      value = value << 8 | UInt32(byte)
    }
    self.value = value
  }

  /// The address stored at `offset` in `bytes` (the caller checked `offset + 4 <= bytes.count`).
  init(bytes: [UInt8], at offset: Int) {
    self.init(bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3])
  }

  /// The four bytes in network order.
  public var bytes: [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> UInt32($0)) } }

  /// a.b.c.d.
  public var description: String { bytes.map(String.init).joined(separator: ".") }

  /// Orders by numeric value.
  public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.value < rhs.value }

  /// Writes the four bytes in network order at `offset` (the caller checked the range).
  func store(into bytes: inout [UInt8], at offset: Int) {
    for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(index))) }
  }
}

/// An IPv4 subnet or interface address with its prefix, such as 10.0.0.1/16.
public struct IPv4Subnet: Hashable, Sendable, CustomStringConvertible {
  /// The address as given (for an interface, its own address; it need not be the network address).
  public let address: IPv4Address
  /// Prefix length, 0-32.
  public let prefixLength: Int

  /// A subnet from an address and prefix length (clamped to 0-32).
  public init(address: IPv4Address, prefixLength: Int) {
    self.address = address
    self.prefixLength = min(32, max(0, prefixLength))
  }

  /// Parses `a.b.c.d/n`; nil if malformed or the prefix is not 0-32.
  public init?(_ text: String) {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let address = IPv4Address(parts[0]), parts[1].count <= 2, parts[1].allSatisfy(\.isASCII),
      let prefix = Int(parts[1]), (0...32).contains(prefix)
    else { return nil }
    self.init(address: address, prefixLength: prefix)
  }

  /// The mask: prefixLength one bits, then zeros.
  public var netmask: IPv4Address {
    IPv4Address(value: prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength))
  }

  /// The network address (host bits zero).
  public var network: IPv4Address { IPv4Address(value: address.value & netmask.value) }

  /// The broadcast address (host bits one).
  public var broadcast: IPv4Address { IPv4Address(value: network.value | ~netmask.value) }

  /// Whether `other` lies in this subnet.
  public func contains(_ other: IPv4Address) -> Bool { other.value & netmask.value == network.value }

  /// Host addresses (neither the network nor the broadcast address) in ascending order, skipping `excluded`.
  public func hostAddresses(excluding excluded: Set<IPv4Address> = []) -> some Sequence<IPv4Address> {
    let first = prefixLength >= 31 ? network.value : network.value + 1
    let last = prefixLength >= 31 ? broadcast.value : broadcast.value - 1
    return (first...last).lazy.map(IPv4Address.init(value:)).filter { !excluded.contains($0) }
  }

  /// a.b.c.d/n.
  public var description: String { "\(address)/\(prefixLength)" }
}
