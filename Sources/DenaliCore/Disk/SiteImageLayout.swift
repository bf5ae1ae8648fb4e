// SiteImageLayout.swift: where each table and file goes in a site image, and the bytes of its header and tables.
import DenaliABI

/// The block layout of a site image for a list of files (see `denali/site_image.h`), computed before any
/// byte is written.
struct SiteImageLayout {
  /// The files, in ascending byte order of their site paths (the order of their data).
  let files: [SiteSourceFile]
  /// Each file's FNV-1a path hash, by position in `files`.
  let hashes: [UInt64]
  /// Each file's first data block, by position in `files`.
  let firstBlocks: [UInt64]
  /// Positions in `files`, in ascending order of path hash: the order of the hash and entry tables.
  let tableOrder: [Int]
  /// Blocks of the hash table (from block 1).
  let hashBlocks: Int
  /// Blocks of the entry table (after the hash table).
  let entryBlocks: Int
  /// Blocks of the whole image.
  let totalBlocks: UInt64

  /// Bytes per block.
  static let blockSize = UInt64(DENALI_SITE_BLOCK_SIZE)

  /// Lays out `files` (in path order); refuses an image larger than `limits.imageSize` and two paths with
  /// the same hash.
  init(files: [SiteSourceFile], limits: SiteImageLimits) throws(SiteImageError) {
    self.files = files
    hashes = files.map { sitePathHash($0.sitePath.utf8) }
    hashBlocks = (files.count + Int(DENALI_SITE_HASHES_PER_BLOCK) - 1) / Int(DENALI_SITE_HASHES_PER_BLOCK)
    entryBlocks = (files.count + Int(DENALI_SITE_ENTRIES_PER_BLOCK) - 1) / Int(DENALI_SITE_ENTRIES_PER_BLOCK)
    var next = UInt64(1 + hashBlocks + entryBlocks)
    var firstBlocks: [UInt64] = []
    firstBlocks.reserveCapacity(files.count)
    for file in files {
      firstBlocks.append(next)
      next += (file.size + Self.blockSize - 1) / Self.blockSize
    }
    self.firstBlocks = firstBlocks
    totalBlocks = next
    guard totalBlocks * Self.blockSize <= limits.imageSize else {
      throw .imageTooLarge(bytes: totalBlocks * Self.blockSize, limit: limits.imageSize)
    }
    let hashes = hashes
    tableOrder = files.indices.sorted { hashes[$0] < hashes[$1] }
    for (previous, next) in zip(tableOrder, tableOrder.dropFirst()) where hashes[previous] == hashes[next] {
      throw .hashCollision(path: files[previous].sitePath, other: files[next].sitePath)
    }
  }

  /// Blocks before the first data block: header, hash table and entry table.
  var metadataBlocks: Int { 1 + hashBlocks + entryBlocks }

  /// The header, hash table and entry table (`metadataBlocks` blocks), given each file's data checksum by
  /// position in `files`.
  func metadata(checksums: [UInt64]) -> [UInt8] {
    let blockSize = Int(Self.blockSize)
    var bytes = [UInt8](repeating: 0, count: metadataBlocks * blockSize)
    bytes.withUnsafeMutableBytes { image in
      for (row, index) in tableOrder.enumerated() {
        image.storeBytes(of: hashes[index].littleEndian, toByteOffset: blockSize + row * 8, as: UInt64.self)
        let entry = (1 + hashBlocks) * blockSize + row * Int(DENALI_SITE_ENTRY_SIZE)
        let file = files[index]
        image.storeBytes(of: hashes[index].littleEndian, toByteOffset: entry, as: UInt64.self)
        image.storeBytes(of: firstBlocks[index].littleEndian, toByteOffset: entry + 8, as: UInt64.self)
        image.storeBytes(of: file.size.littleEndian, toByteOffset: entry + 16, as: UInt64.self)
        image.storeBytes(of: checksums[index].littleEndian, toByteOffset: entry + 24, as: UInt64.self)
        image.storeBytes(of: UInt16(file.sitePath.utf8.count).littleEndian, toByteOffset: entry + 32, as: UInt16.self)
        image.storeBytes(of: file.contentType, toByteOffset: entry + 34, as: UInt8.self)
        for (offset, byte) in file.sitePath.utf8.enumerated() {
          image.storeBytes(of: byte, toByteOffset: entry + 40 + offset, as: UInt8.self)
        }
      }
      image.storeBytes(of: DENALI_SITE_MAGIC.littleEndian, toByteOffset: 0, as: UInt64.self)
      image.storeBytes(of: DENALI_SITE_VERSION.littleEndian, toByteOffset: 8, as: UInt32.self)
      image.storeBytes(of: UInt32(files.count).littleEndian, toByteOffset: 12, as: UInt32.self)
      image.storeBytes(of: totalBlocks.littleEndian, toByteOffset: 16, as: UInt64.self)
      for block in 0..<hashBlocks {
        let first = hashes[tableOrder[block * Int(DENALI_SITE_HASHES_PER_BLOCK)]]
        image.storeBytes(of: first.littleEndian, toByteOffset: 64 + block * 8, as: UInt64.self)
      }
      var checksum = SiteWordChecksum()
      checksum.add(UnsafeRawBufferPointer(rebasing: image[0..<blockSize]))
      image.storeBytes(of: checksum.value.littleEndian, toByteOffset: 24, as: UInt64.self)
    }
    return bytes
  }
}
