// SiteHash.swift: the site image's path hash (FNV-1a 64 over bytes) and word checksum (FNV-1a over 64-bit words).
import DenaliABI

/// The hash a site image sorts its paths by: FNV-1a 64 over the path's bytes.
public func sitePathHash<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt64 {
  var hash = DENALI_SITE_FNV_OFFSET
  for byte in bytes { hash = (hash ^ UInt64(byte)) &* DENALI_SITE_FNV_PRIME }
  return hash
}

/// The word checksum of `denali/site_image.h`, fed in pieces: FNV-1a over little-endian 64-bit words, the last
/// one zero-padded.
public struct SiteWordChecksum: Sendable {
  /// The checksum of the words completed so far.
  private var hash = DENALI_SITE_FNV_OFFSET
  /// Bytes of an incomplete word, in its low bytes.
  private var partial: UInt64 = 0
  /// How many bytes `partial` holds (0-7).
  private var partialCount = 0

  /// An empty checksum.
  public init() {}

  /// Adds `bytes`.
  public mutating func add(_ bytes: UnsafeRawBufferPointer) {
    var index = 0
    while partialCount != 0, index < bytes.count {
      addByte(bytes[index])
      index += 1
    }
    while bytes.count - index >= 8 {
      hash =
        (hash ^ UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)))
        &* DENALI_SITE_FNV_PRIME
      index += 8
    }
    while index < bytes.count {
      addByte(bytes[index])
      index += 1
    }
  }

  /// Adds one byte to the incomplete word, finishing it at 8 bytes.
  private mutating func addByte(_ byte: UInt8) {
    partial |= UInt64(byte) << (8 * UInt64(partialCount))
    partialCount += 1
    if partialCount == 8 {
      hash = (hash ^ partial) &* DENALI_SITE_FNV_PRIME
      partial = 0
      partialCount = 0
    }
  }

  /// The checksum of everything added, the last word zero-padded.
  public var value: UInt64 {
    partialCount == 0 ? hash : (hash ^ partial) &* DENALI_SITE_FNV_PRIME
  }
}
