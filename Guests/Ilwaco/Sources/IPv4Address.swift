// IPv4Address.swift: an IPv4 address for the guest's network stack, parsed from text and printed.

/// An IPv4 address; a.b.c.d is `value` 0xaabbccdd (host order: convert with `.bigEndian` for the wire).
public struct IPv4Address: Equatable {
  /// The address as a number.
  public var value: UInt32

  /// 0.0.0.0.
  public static let zero = IPv4Address(value: 0)
  /// 255.255.255.255.
  public static let broadcast = IPv4Address(value: 0xFFFF_FFFF)

  /// The address `value`.
  public init(value: UInt32) { self.value = value }

  /// The address a.b.c.d.
  public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
    value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
  }

  /// Parses dotted-quad text (four decimal numbers 0-255); nil if malformed.
  public init?(parsing text: String) {
    var result: UInt32 = 0
    var part: UInt32 = 0
    var digits = 0
    var dots = 0
    for byte in text.utf8 {
      if byte == 0x2E {  // '.'
        guard digits > 0, dots < 3 else { return nil }
        result = result << 8 | part
        part = 0
        digits = 0
        dots += 1
      } else if byte >= 0x30 && byte <= 0x39 {
        part = part * 10 + UInt32(byte - 0x30)
        digits += 1
        guard digits <= 3, part <= 255 else { return nil }
      } else {
        return nil
      }
    }
    guard dots == 3, digits > 0 else { return nil }
    value = result << 8 | part
  }

  /// Parses a peer given as dotted-quad text, or as `+N` / `-N`: the address N above or below `own` (VMs get
  /// addresses in order of creation, so `-1000` is the VM created 1000 before this one); nil if malformed.
  public init?(parsingPeer text: String, relativeTo own: IPv4Address) {
    guard let first = text.utf8.first else { return nil }
    if first == 0x2B || first == 0x2D {  // '+' or '-'
      guard let offset = Arguments.parseUnsigned(String(text.dropFirst())), offset < 1 << 32 else { return nil }
      self = own.advanced(by: first == 0x2B ? Int64(offset) : -Int64(offset))
      return
    }
    self.init(parsing: text)
  }

  /// This address plus `offset` (wrapping), for "the VM N addresses away".
  public func advanced(by offset: Int64) -> IPv4Address {
    IPv4Address(value: UInt32(truncatingIfNeeded: Int64(value) &+ offset))
  }
}

extension Console {
  /// Writes `address` as a.b.c.d.
  public static func print(_ address: IPv4Address) {
    print(address.value >> 24)
    print("." as StaticString)
    print((address.value >> 16) & 0xFF)
    print("." as StaticString)
    print((address.value >> 8) & 0xFF)
    print("." as StaticString)
    print(address.value & 0xFF)
  }
}
