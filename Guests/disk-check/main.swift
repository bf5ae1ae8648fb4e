// disk-check MODE [SEED]: `write` fills every block of the disk with a pattern of (block, word, SEED), then reads it
// all back and verifies it; `verify` only reads and verifies (a later run over the same disk file).
// Exit 0 if all is well, 1 on a mismatch or an I/O error, 2 on bad arguments, 3 if there is no disk.
import Ilwaco

@main
struct DiskCheck: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let mode = arguments.first, mode == "write" || mode == "verify",
      let seed = arguments.unsignedInteger(at: 1, default: 0)
    else {
      Console.print("usage: disk-check write|verify [SEED] (decimal, default 0)\n")
      return 2
    }
    guard let disk = BlockDevice.info() else {
      Console.print("disk-check: no disk\n")
      return 3
    }
    // One chunk buffer of up to DENALI_DISK_IO_MAX_BLOCKS blocks, smaller if the heap is small.
    var chunkBlocks = BlockDevice.maximumBlocksPerRequest
    var raw: UnsafeMutableRawPointer? = nil
    while posix_memalign(&raw, BlockDevice.blockSize, chunkBlocks * BlockDevice.blockSize) != 0 {
      guard chunkBlocks > 1 else {
        Console.print("disk-check: out of memory\n")
        return 1
      }
      chunkBlocks /= 2
    }
    // SAFETY: posix_memalign returned chunkBlocks blocks, 4096-aligned (so also 8-aligned for UInt64).
    let buffer = raw!.bindMemory(to: UInt64.self, capacity: chunkBlocks * wordsPerBlock)

    if mode == "write" {
      var block: UInt64 = 0
      while block < disk.blocks {
        let count = Int(min(UInt64(chunkBlocks), disk.blocks - block))
        fill(buffer, firstBlock: block, count: count, seed: seed)
        let ret = BlockDevice.write(block: block, count: count, from: buffer)
        guard ret == Int64(count) else { return ioError("write", ret, block) }
        block += UInt64(count)
      }
      Console.print("disk-check: wrote ")
      Console.print(disk.blocks)
      Console.print(" blocks\n")
    }

    var block: UInt64 = 0
    while block < disk.blocks {
      let count = Int(min(UInt64(chunkBlocks), disk.blocks - block))
      let ret = BlockDevice.read(block: block, count: count, into: buffer)
      guard ret == Int64(count) else { return ioError("read", ret, block) }
      if let bad = firstMismatch(buffer, firstBlock: block, count: count, seed: seed) {
        Console.print("disk-check: mismatch at block ")
        Console.print(bad)
        Console.print("\n")
        return 1
      }
      block += UInt64(count)
    }
    Console.print("disk-check: verified ")
    Console.print(disk.blocks)
    Console.print(" blocks\n")
    return 0
  }

  /// 64-bit words per disk block.
  static let wordsPerBlock = BlockDevice.blockSize / 8

  /// Word 0 of block `block`'s pattern; word `index` is this plus `index`. Cheap to make and check (the loops
  /// below are unrolled by 8: about 2.5 guest instructions a word to fill, 3.5 to verify), and different for
  /// every block, word and seed.
  @inline(__always)
  static func patternBase(block: UInt64, seed: UInt64) -> UInt64 { block &* 0x9E37_79B9_7F4A_7C15 ^ seed }

  /// Writes the pattern of blocks `firstBlock..<firstBlock + count` into `buffer`.
  static func fill(_ buffer: UnsafeMutablePointer<UInt64>, firstBlock: UInt64, count: Int, seed: UInt64) {
    var word = buffer
    for block in firstBlock..<firstBlock + UInt64(count) {
      var value = patternBase(block: block, seed: seed)
      for _ in 0..<wordsPerBlock / 8 {
        // SAFETY: word stays within the count * wordsPerBlock words of buffer (wordsPerBlock is a multiple of 8).
        word[0] = value
        word[1] = value &+ 1
        word[2] = value &+ 2
        word[3] = value &+ 3
        word[4] = value &+ 4
        word[5] = value &+ 5
        word[6] = value &+ 6
        word[7] = value &+ 7
        word += 8
        value &+= 8
      }
    }
  }

  /// The first block in `firstBlock..<firstBlock + count` whose words in `buffer` differ from the pattern, or nil.
  static func firstMismatch(_ buffer: UnsafeMutablePointer<UInt64>, firstBlock: UInt64, count: Int, seed: UInt64)
    -> UInt64?
  {
    var word = buffer
    for block in firstBlock..<firstBlock + UInt64(count) {
      var value = patternBase(block: block, seed: seed)
      for _ in 0..<wordsPerBlock / 8 {
        // SAFETY: word stays within the count * wordsPerBlock words of buffer (wordsPerBlock is a multiple of 8).
        if word[0] != value || word[1] != value &+ 1 || word[2] != value &+ 2 || word[3] != value &+ 3
          || word[4] != value &+ 4 || word[5] != value &+ 5 || word[6] != value &+ 6 || word[7] != value &+ 7
        {
          return block
        }
        word += 8
        value &+= 8
      }
    }
    return nil
  }

  /// Reports a failed request and returns exit status 1.
  static func ioError(_ what: StaticString, _ ret: Int64, _ block: UInt64) -> Int32 {
    Console.print("disk-check: ")
    Console.print(what)
    Console.print(" at block ")
    Console.print(block)
    Console.print(" failed: ret ")
    Console.print(ret)
    Console.print("\n")
    return 1
  }
}
