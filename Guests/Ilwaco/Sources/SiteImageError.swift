// SiteImageError.swift: why a site image cannot be opened or read (a guest may be given any bytes as its disk).

/// What is wrong with a site image, or with the disk under it.
public enum SiteImageError: Error {
  /// The VM has no disk.
  case noDisk
  /// A disk read failed: the host's `DENALI_E*` code.
  case io(Int64)
  /// Block 0 does not start with `DENALI_SITE_MAGIC`.
  case badMagic
  /// A version this reader does not know.
  case badVersion(UInt32)
  /// The header's checksum does not match block 0.
  case badChecksum
  /// More files than the format allows.
  case badFileCount(UInt32)
  /// The image's size in blocks is below its own tables or above the format's limit.
  case badTotalBlocks(UInt64)
  /// The image claims more blocks than the disk has (a truncated image).
  case truncated(imageBlocks: UInt64, diskBlocks: UInt64)
  /// An entry whose path length, size or data blocks are out of range.
  case badEntry(index: Int)

  /// A short description, without the values.
  public var reason: StaticString {
    switch self {
    case .noDisk: "no disk"
    case .io: "disk read failed"
    case .badMagic: "not a site image (bad magic)"
    case .badVersion: "unknown version"
    case .badChecksum: "header checksum mismatch"
    case .badFileCount: "file count out of range"
    case .badTotalBlocks: "image size out of range"
    case .truncated: "image larger than the disk (truncated)"
    case .badEntry: "entry out of range"
    }
  }

  /// Prints the description and the values that go with it (no newline).
  public func print() {
    Console.print(reason)
    switch self {
    case .io(let code):
      Console.print(" (")
      Console.print(code)
      Console.print(")")
    case .badVersion(let version):
      Console.print(" ")
      Console.print(version)
    case .badFileCount(let count):
      Console.print(" ")
      Console.print(count)
    case .badTotalBlocks(let blocks):
      Console.print(" ")
      Console.print(blocks)
    case .truncated(let image, let disk):
      Console.print(": ")
      Console.print(image)
      Console.print(" blocks, disk ")
      Console.print(disk)
    case .badEntry(let index):
      Console.print(" ")
      Console.print(index)
    case .noDisk, .badMagic, .badChecksum: break
    }
  }
}
