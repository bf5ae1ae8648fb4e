// SiteImage.swift: reads a site image (`denalid disk pack`, format in denali/site_image.h) from the virtual
// disk: checks the header, finds files by path, reads byte ranges of them. Every field is checked before use,
// since a guest may be handed any bytes as its disk. Memory: a small block cache and the header's fence.

/// A site image on the VM's disk.
public final class SiteImage {
  /// Files in the image.
  public let fileCount: Int
  /// Blocks of the image (the disk has at least these).
  public let totalBlocks: UInt64
  /// Blocks of the hash table (from block 1), and of the entry table after it.
  private let hashBlocks: Int
  private let entryBlocks: Int
  /// The first data block.
  private let dataStart: UInt64
  /// The header's fence: the first hash of each hash block (hashBlocks of them).
  private let fence: UnsafeMutablePointer<UInt64>
  /// Recently read table and data blocks.
  public let cache: BlockCache

  static let blockSize = Int(DENALI_SITE_BLOCK_SIZE)
  static let hashesPerBlock = Int(DENALI_SITE_HASHES_PER_BLOCK)
  static let entriesPerBlock = Int(DENALI_SITE_ENTRIES_PER_BLOCK)
  static let entrySize = Int(DENALI_SITE_ENTRY_SIZE)
  /// Byte offsets in the header and in an entry (denali/site_image.h).
  static let headerVersion = 8, headerFileCount = 12, headerTotalBlocks = 16, headerChecksum = 24, headerFence = 64
  static let entryHash = 0, entryFirstBlock = 8, entryFileSize = 16, entryChecksum = 24, entryPathLength = 32
  static let entryContentType = 34, entryPath = 40

  /// Opens the image on the VM's disk: reads block 0 and checks magic, version, checksum, file count and size
  /// against the disk. `cacheBlocks` blocks of cache (at least 1) serve lookups and small reads.
  public init(cacheBlocks: Int = 4) throws(SiteImageError) {
    guard let disk = BlockDevice.info() else { throw .noDisk }
    cache = BlockCache(slots: cacheBlocks)
    let header: UnsafeRawPointer
    do { header = try cache.block(0) } catch { throw .io(error.code) }
    // SAFETY: header is a 4096-byte block, 4096-aligned; every load below is inside it and naturally aligned.
    guard header.load(as: UInt64.self) == DENALI_SITE_MAGIC else { throw .badMagic }
    let version = header.load(fromByteOffset: Self.headerVersion, as: UInt32.self)
    guard version == DENALI_SITE_VERSION else { throw .badVersion(version) }
    var checksum = SiteChecksum()
    checksum.add(header, count: Self.headerChecksum)
    var zero: UInt64 = 0
    checksum.add(&zero, count: 8)
    checksum.add(header + Self.headerChecksum + 8, count: Self.blockSize - Self.headerChecksum - 8)
    guard checksum.value == header.load(fromByteOffset: Self.headerChecksum, as: UInt64.self) else {
      throw .badChecksum
    }
    let files = header.load(fromByteOffset: Self.headerFileCount, as: UInt32.self)
    guard files <= DENALI_SITE_FILES_MAX else { throw .badFileCount(files) }
    fileCount = Int(files)
    hashBlocks = (fileCount + Self.hashesPerBlock - 1) / Self.hashesPerBlock
    entryBlocks = (fileCount + Self.entriesPerBlock - 1) / Self.entriesPerBlock
    dataStart = UInt64(1 + hashBlocks + entryBlocks)
    let total = header.load(fromByteOffset: Self.headerTotalBlocks, as: UInt64.self)
    guard total >= dataStart, total <= DENALI_SITE_BLOCKS_MAX else { throw .badTotalBlocks(total) }
    guard total <= disk.blocks else { throw .truncated(imageBlocks: total, diskBlocks: disk.blocks) }
    totalBlocks = total
    fence = .allocate(capacity: max(hashBlocks, 1))
    // SAFETY: hashBlocks <= DENALI_SITE_FENCE_MAX, so the fence lies inside block 0 (checked by a static assert).
    fence.initialize(from: (header + Self.headerFence).assumingMemoryBound(to: UInt64.self), count: hashBlocks)
  }

  deinit { fence.deallocate() }

  /// The file whose path is the `count` bytes at `path` (with its leading '/'), or nil if there is none. Costs
  /// the hash of the path, two binary searches and at most two block reads (none when cached).
  public func lookup(_ path: UnsafeRawPointer, count: Int) throws(SiteImageError) -> SiteFile? {
    guard fileCount > 0, count > 0, count <= Int(DENALI_SITE_PATH_MAX) else { return nil }
    let hash = sitePathHash(path, count: count)
    // The last hash block whose first hash is <= hash.
    guard fence[0] <= hash else { return nil }
    var low = 0
    var high = hashBlocks
    while high - low > 1 {
      let middle = (low + high) / 2
      // SAFETY: low < middle < high <= hashBlocks.
      if fence[middle] <= hash { low = middle } else { high = middle }
    }
    let hashes: UnsafeRawPointer
    do { hashes = try cache.block(1 + UInt64(low)) } catch { throw .io(error.code) }
    let first = low * Self.hashesPerBlock
    var left = 0
    var right = min(Self.hashesPerBlock, fileCount - first)  // search hashes[left..<right]
    while left < right {
      let middle = (left + right) / 2
      // SAFETY: middle < right <= hashesPerBlock, so the 8-byte load lies inside the 4096-byte block.
      let value = hashes.load(fromByteOffset: middle * 8, as: UInt64.self)
      if value == hash {
        let entry = try self.entry(at: first + middle)
        // SAFETY: entry() checked the path length against the entry's 216-byte path field.
        guard entry.load(fromByteOffset: Self.entryHash, as: UInt64.self) == hash,
          Int(entry.load(fromByteOffset: Self.entryPathLength, as: UInt16.self)) == count,
          memcmp(entry + Self.entryPath, path, count) == 0
        else { return nil }
        return file(first + middle, entry)
      }
      if value < hash { left = middle + 1 } else { right = middle }
    }
    return nil
  }

  /// The file at position `index` (0..<fileCount) of the entry table.
  public func file(at index: Int) throws(SiteImageError) -> SiteFile {
    guard index >= 0, index < fileCount else { throw .badEntry(index: index) }
    return file(index, try entry(at: index))
  }

  /// Copies the path of `file` into `buffer` (up to its capacity); returns the path's length.
  public func path(of file: SiteFile, into buffer: UnsafeMutableRawBufferPointer) throws(SiteImageError) -> Int {
    let entry = try self.entry(at: file.index)
    // SAFETY: entry() checked the length against the path field; the copy stops at the buffer's capacity.
    let length = Int(entry.load(fromByteOffset: Self.entryPathLength, as: UInt16.self))
    buffer.baseAddress?.copyMemory(from: entry + Self.entryPath, byteCount: min(length, buffer.count))
    return length
  }

  /// Reads up to `count` bytes of `file` from byte `offset` into `buffer`; returns how many (fewer at the end
  /// of the file, 0 past it). Whole aligned blocks go straight into the buffer (up to 64 a request); partial
  /// blocks through the cache.
  public func read(_ file: SiteFile, from offset: UInt64, into buffer: UnsafeMutableRawPointer, count: Int)
    throws(SiteImageError) -> Int
  {
    guard count > 0, offset < file.size else { return 0 }
    let total = Int(min(UInt64(count), file.size - offset))
    var done = 0
    while done < total {
      let position = offset + UInt64(done)
      let block = file.firstBlock + position / UInt64(Self.blockSize)
      let within = Int(position % UInt64(Self.blockSize))
      let remaining = total - done
      if within == 0 && remaining >= Self.blockSize {
        let blocks = min(remaining / Self.blockSize, BlockDevice.maximumBlocksPerRequest)
        // SAFETY: blocks * blockSize <= remaining, so the read stays inside the caller's count bytes.
        let ret = BlockDevice.read(block: block, count: blocks, into: buffer + done)
        guard ret == Int64(blocks) else { throw .io(ret < 0 ? ret : Int64(DENALI_EIO)) }
        done += blocks * Self.blockSize
      } else {
        let bytes: UnsafeRawPointer
        do { bytes = try cache.block(block) } catch { throw .io(error.code) }
        let piece = min(Self.blockSize - within, remaining)
        // SAFETY: within + piece <= blockSize and done + piece <= total <= count.
        (buffer + done).copyMemory(from: bytes + within, byteCount: piece)
        done += piece
      }
    }
    return total
  }

  /// The entry at `index` (< fileCount), from the cache, with its path length, size and data range checked.
  private func entry(at index: Int) throws(SiteImageError) -> UnsafeRawPointer {
    let block = 1 + UInt64(hashBlocks) + UInt64(index / Self.entriesPerBlock)
    let bytes: UnsafeRawPointer
    do { bytes = try cache.block(block) } catch { throw .io(error.code) }
    // SAFETY: index % entriesPerBlock * entrySize + entrySize <= blockSize; loads are naturally aligned.
    let entry = bytes + (index % Self.entriesPerBlock) * Self.entrySize
    let length = entry.load(fromByteOffset: Self.entryPathLength, as: UInt16.self)
    let size = entry.load(fromByteOffset: Self.entryFileSize, as: UInt64.self)
    let first = entry.load(fromByteOffset: Self.entryFirstBlock, as: UInt64.self)
    // size <= 2^30 and first <= totalBlocks <= 2^20, so the sum cannot overflow.
    guard length >= 1, length <= DENALI_SITE_PATH_MAX, size <= DENALI_SITE_FILE_SIZE_MAX, first >= dataStart,
      first <= totalBlocks, first + (size + UInt64(Self.blockSize) - 1) / UInt64(Self.blockSize) <= totalBlocks
    else { throw .badEntry(index: index) }
    return entry
  }

  /// A `SiteFile` from a checked entry.
  private func file(_ index: Int, _ entry: UnsafeRawPointer) -> SiteFile {
    // SAFETY: entry points at a checked 256-byte entry.
    SiteFile(
      index: index, size: entry.load(fromByteOffset: Self.entryFileSize, as: UInt64.self),
      contentType: entry.load(fromByteOffset: Self.entryContentType, as: UInt8.self),
      checksum: entry.load(fromByteOffset: Self.entryChecksum, as: UInt64.self),
      firstBlock: entry.load(fromByteOffset: Self.entryFirstBlock, as: UInt64.self))
  }
}
