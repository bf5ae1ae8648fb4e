// SipHash.swift: SipHash-2-4, a keyed hash of short inputs (Aumasson and Bernstein), for secrets such as TCP
// initial sequence numbers.

/// SipHash-2-4 with a 128-bit key, over inputs of whole 64-bit words (little-endian, as the reference reads bytes).
public struct SipHash {
  private var v0: UInt64
  private var v1: UInt64
  private var v2: UInt64
  private var v3: UInt64
  private var length: UInt64 = 0

  /// A hasher keyed with `key0` (bytes 0-7 of the key, little-endian) and `key1` (bytes 8-15).
  public init(key0: UInt64, key1: UInt64) {
    v0 = key0 ^ 0x736F_6D65_7073_6575
    v1 = key1 ^ 0x646F_7261_6E64_6F6D
    v2 = key0 ^ 0x6C79_6765_6E65_7261
    v3 = key1 ^ 0x7465_6462_7974_6573
  }

  /// Adds the eight bytes of `word` (little-endian) to the input.
  public mutating func combine(_ word: UInt64) {
    v3 ^= word
    round()
    round()
    v0 ^= word
    length &+= 8
  }

  /// The hash of everything combined.
  public func finalize() -> UInt64 {
    var copy = self
    let last = copy.length << 56
    copy.v3 ^= last
    copy.round()
    copy.round()
    copy.v0 ^= last
    copy.v2 ^= 0xFF
    copy.round()
    copy.round()
    copy.round()
    copy.round()
    return copy.v0 ^ copy.v1 ^ copy.v2 ^ copy.v3
  }

  private mutating func round() {
    v0 &+= v1
    v1 = v1.rotatedLeft(13) ^ v0
    v0 = v0.rotatedLeft(32)
    v2 &+= v3
    v3 = v3.rotatedLeft(16) ^ v2
    v0 &+= v3
    v3 = v3.rotatedLeft(21) ^ v0
    v2 &+= v1
    v1 = v1.rotatedLeft(17) ^ v2
    v2 = v2.rotatedLeft(32)
  }
}

extension UInt64 {
  /// The bits rotated left by `count` (0 < count < 64).
  @inline(__always)
  fileprivate func rotatedLeft(_ count: UInt64) -> UInt64 { (self << count) | (self >> (64 - count)) }
}
