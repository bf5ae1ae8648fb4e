// SwapChecksumTests.swift: the swap files' CRC-32C against a bit-by-bit reference, for whole pages and other lengths,
// from zero and from a running value, and split across calls.
import CSwapSupport
import Testing

@Suite("Swap checksums")
struct SwapChecksumTests {
  /// CRC-32C bit by bit (reflected polynomial 0x82F63B78), continuing from `crc` as `swap_crc32c` does.
  static func reference(_ crc: UInt32, _ bytes: [UInt8]) -> UInt32 {
    var value = ~crc
    for byte in bytes {
      value ^= UInt32(byte)
      for _ in 0..<8 { value = (value >> 1) ^ (0x82F6_3B78 & (0 &- (value & 1))) }
    }
    return ~value
  }

  static func crc(_ crc: UInt32, _ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBytes { swap_crc32c(crc, $0.baseAddress, $0.count) }
  }

  @Test("the standard check value: CRC-32C of \"123456789\" is 0xE3069283")
  func checkValue() {
    #expect(Self.crc(0, Array("123456789".utf8)) == 0xE306_9283)
  }

  @Test("a whole page equals the bit-by-bit CRC, from zero and from a running value, and in two parts")
  func pages() {
    var generator = SystemRandomNumberGenerator()
    var pages: [[UInt8]] = [[UInt8](repeating: 0, count: 4096), [UInt8](repeating: 0xFF, count: 4096)]
    for _ in 0..<6 { pages.append((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }) }
    // One bit set at either end of each third and of the tail: a checksum computed in parts must place each part.
    for position in [0, 1359, 1360, 2719, 2720, 4079, 4080, 4095] {
      var page = [UInt8](repeating: 0, count: 4096)
      page[position] = 0x80
      pages.append(page)
    }
    for (index, page) in pages.enumerated() {
      for start: UInt32 in [0, 0xDEAD_BEEF] {
        #expect(Self.crc(start, page) == Self.reference(start, page), "page \(index), from \(start)")
      }
      // The page split into two calls (neither a whole page) gives the same value.
      let head = Self.crc(0, Array(page[..<1000]))
      #expect(Self.crc(head, Array(page[1000...])) == Self.crc(0, page), "page \(index) in two parts")
    }
  }

  @Test("other lengths equal the bit-by-bit CRC")
  func otherLengths() {
    var generator = SystemRandomNumberGenerator()
    for length in [1, 7, 8, 9, 100, 4095, 4097, 8192] {
      let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
      #expect(Self.crc(7, bytes) == Self.reference(7, bytes), "\(length) bytes")
    }
  }
}
