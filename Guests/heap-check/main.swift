// heap-check: exercises the Ilwaco heap (reuse, alignment, coalescing) and exits 0 if it behaves, 1 if not.
import Ilwaco

@main
struct HeapCheck: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    let initial = heapFreeBytes

    // Swift arrays: allocated and released each round; freed blocks must be reused, so the heap ends as it began.
    var total = 0
    for round in 0..<8 {
      var values = [Int](repeating: round, count: 64)
      values.append(round)
      total += values.count
    }
    guard total == 8 * 65, heapFreeBytes == initial else { return fail("arrays leaked or were not reused") }

    // Aligned blocks, freed out of order: each must be aligned, and freeing must coalesce everything back.
    var blocks: [UnsafeMutableRawPointer?] = [nil, nil, nil, nil]
    let alignments = [16, 64, 4096, 32]
    for index in 0..<4 {
      guard posix_memalign(&blocks[index], alignments[index], 100 + index * 1000) == 0, let block = blocks[index],
        UInt(bitPattern: block) % UInt(alignments[index]) == 0
      else { return fail("aligned allocation failed") }
    }
    let first = blocks[0]
    for index in [2, 0, 3, 1] { free(blocks[index]) }
    blocks.removeAll()
    guard heapFreeBytes == initial else { return fail("aligned blocks were not all returned") }

    // After coalescing the heap is one block again: the same first allocation comes back, and almost all of it fits.
    var again: UnsafeMutableRawPointer? = nil
    guard posix_memalign(&again, 16, 100) == 0, again == first else { return fail("freed block not reused") }
    free(again)
    guard let big = malloc(initial - 64) else { return fail("free blocks were not coalesced") }
    free(big)
    guard heapFreeBytes == initial else { return fail("heap not restored") }
    Console.print("heap-check: ok, ")
    Console.print(initial)
    Console.print(" bytes free\n")
    return 0
  }

  /// Prints why the check failed and returns exit status 1.
  static func fail(_ reason: StaticString) -> Int32 {
    Console.print("heap-check: FAILED: ")
    Console.print(reason)
    Console.print("\n")
    return 1
  }
}
