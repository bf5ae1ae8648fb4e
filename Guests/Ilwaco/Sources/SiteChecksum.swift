// SiteChecksum.swift: the site image's path hash (FNV-1a 64 over bytes) and word checksum (FNV-1a over 64-bit
// little-endian words, the last one zero-padded), as `denali/site_image.h` defines them.

/// The path hash a site image sorts its files by: FNV-1a 64 over the bytes.
@inline(__always)
public func sitePathHash(_ bytes: UnsafeRawPointer, count: Int) -> UInt64 {
  var hash = DENALI_SITE_FNV_OFFSET
  var index = 0
  while index < count {
    // SAFETY: index < count, the caller's length of bytes.
    hash = (hash ^ UInt64(bytes.load(fromByteOffset: index, as: UInt8.self))) &* DENALI_SITE_FNV_PRIME
    index += 1
  }
  return hash
}

/// The word checksum of a site image's header and files, fed in pieces of any size.
public struct SiteChecksum {
  /// The checksum of the whole words so far.
  private var hash = DENALI_SITE_FNV_OFFSET
  /// Bytes of an incomplete word, in its low bytes, and how many (0-7).
  private var partial: UInt64 = 0
  private var partialCount: UInt64 = 0

  /// An empty checksum.
  public init() {}

  /// Adds `count` bytes at `bytes`. Whole words cost about 3.5 guest instructions each.
  public mutating func add(_ bytes: UnsafeRawPointer, count: Int) {
    var index = 0
    while partialCount != 0 && index < count {
      // SAFETY: index < count.
      addByte(bytes.load(fromByteOffset: index, as: UInt8.self))
      index += 1
    }
    // Four words per turn: one loop test per 32 bytes (about 3.5 guest instructions a word instead of 5).
    while count - index >= 32 {
      // SAFETY: index + 32 <= count.
      var value = hash
      for word in 0..<4 {
        value =
          (value ^ UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index + 8 * word, as: UInt64.self)))
          &* DENALI_SITE_FNV_PRIME
      }
      hash = value
      index += 32
    }
    while count - index >= 8 {
      // SAFETY: index + 8 <= count.
      hash =
        (hash ^ UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)))
        &* DENALI_SITE_FNV_PRIME
      index += 8
    }
    while index < count {
      // SAFETY: index < count.
      addByte(bytes.load(fromByteOffset: index, as: UInt8.self))
      index += 1
    }
  }

  /// Adds one byte to the incomplete word.
  private mutating func addByte(_ byte: UInt8) {
    partial |= UInt64(byte) << (8 &* partialCount)
    partialCount += 1
    if partialCount == 8 {
      hash = (hash ^ partial) &* DENALI_SITE_FNV_PRIME
      partial = 0
      partialCount = 0
    }
  }

  /// The checksum of everything added, the last word zero-padded.
  public var value: UInt64 { partialCount == 0 ? hash : (hash ^ partial) &* DENALI_SITE_FNV_PRIME }
}
