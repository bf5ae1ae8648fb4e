// BlockCache.swift: a few blocks of the virtual disk kept in memory, the least recently used replaced first.

/// A failed disk request: the host's negative `ret` (a `DENALI_E*` code).
public struct BlockDeviceError: Error {
  /// The host's `ret`.
  public let code: Int64
}

/// A small cache of disk blocks, for readers that touch the same few blocks again and again (a site image's
/// tables). Memory: `slots` blocks and two words per slot, allocated once.
public final class BlockCache {
  /// Number of blocks held.
  public let slots: Int
  /// `slots` blocks of `BlockDevice.blockSize` bytes, 4096-aligned.
  private let storage: UnsafeMutableRawPointer
  /// The block each slot holds, `UInt64.max` for none.
  private let numbers: UnsafeMutablePointer<UInt64>
  /// When each slot was last used (a counter), for replacement.
  private let stamps: UnsafeMutablePointer<UInt64>
  private var clock: UInt64 = 0

  /// Disk reads this cache made (misses).
  public private(set) var reads: UInt64 = 0

  /// An empty cache of `slots` blocks (at least 1).
  public init(slots: Int) {
    self.slots = slots > 0 ? slots : 1
    storage = .allocate(byteCount: self.slots * BlockDevice.blockSize, alignment: BlockDevice.blockSize)
    numbers = .allocate(capacity: self.slots)
    numbers.initialize(repeating: UInt64.max, count: self.slots)
    stamps = .allocate(capacity: self.slots)
    stamps.initialize(repeating: 0, count: self.slots)
  }

  deinit {
    storage.deallocate()
    numbers.deallocate()
    stamps.deallocate()
  }

  /// The bytes of block `number` (`BlockDevice.blockSize` of them, valid until the next call), read from the
  /// disk unless cached.
  public func block(_ number: UInt64) throws(BlockDeviceError) -> UnsafeRawPointer {
    clock &+= 1
    var slot = 0
    while slot < slots {
      // SAFETY: slot < slots, the length of numbers and stamps; its block lies inside storage.
      if numbers[slot] == number {
        stamps[slot] = clock
        return UnsafeRawPointer(storage + slot &* BlockDevice.blockSize)
      }
      slot &+= 1
    }
    var victim = 0
    for slot in 1..<slots where stamps[slot] < stamps[victim] { victim = slot }
    // SAFETY: victim < slots, so its block lies inside storage.
    let bytes = storage + victim &* BlockDevice.blockSize
    numbers[victim] = UInt64.max  // empty until the read succeeds
    reads &+= 1
    let ret = BlockDevice.read(block: number, count: 1, into: bytes)
    guard ret == 1 else { throw BlockDeviceError(code: ret < 0 ? ret : Int64(DENALI_EIO)) }
    numbers[victim] = number
    stamps[victim] = clock
    return UnsafeRawPointer(bytes)
  }
}
