// memcheck [CYCLES] [SLEEP_MS] [KIB]: first checks that it starts fresh: the memory it will fill is all zero and
// its cycle count (in .bss) is 0, else prints `memcheck: NOT FRESH ...` and exits 3 (a guest must never see
// what another guest left in memory). Then fills its free memory with a pattern derived from its VM id, the
// cycle and the page, sleeps SLEEP_MS (default 100), verifies every page, and repeats CYCLES times (default 0:
// forever). KIB bounds the bytes filled (default: all memory between the heap and the stack). A mismatch
// prints `memcheck: MISMATCH ...` and exits 1; after CYCLES good cycles it prints `memcheck: ok N cycles`
// and exits 0. The verified-cycle count is at the ELF symbol `memcheck_cycles` for the host to read.
import Ilwaco

/// Cycles verified so far (a little-endian UInt64 at this symbol's GPA).
@_silgen_name("memcheck_cycles")
nonisolated(unsafe) var memcheckCycles: UInt64 = 0

@main
struct MemCheck: Guest {
  static let pageSize = 4096
  static let heapReserve = 64 << 10
  static let stackReserve = 64 << 10

  static func run(_ arguments: Arguments) -> Int32 {
    guard arguments.count <= 3, let cycles = arguments.unsignedInteger(at: 0, default: 0),
      let sleepMilliseconds = arguments.unsignedInteger(at: 1, default: 100),
      let limitKiB = arguments.unsignedInteger(at: 2, default: 0)
    else { return usage() }
    let start = (imageEnd + heapReserve + pageSize - 1) / pageSize * pageSize
    var end = (memorySize - stackReserve) / pageSize * pageSize
    if limitKiB > 0, start + Int(limitKiB) * 1024 < end { end = start + Int(limitKiB) * 1024 }
    guard start < end else {
      Console.print("memcheck: no free memory to check\n")
      return 2
    }
    let vmID = VirtualRegisters.vmID
    if memcheckCycles != 0 { return notFresh("cycles", UInt64(memcheckCycles)) }
    var page = start
    while page < end {
      let matched = ilwaco_memory_match64(UInt64(page), 0, UInt64(pageSize / 8))
      if matched != UInt64(pageSize / 8) { return notFresh("page", UInt64(page)) }
      page += pageSize
    }
    var cycle: UInt64 = 0
    while cycles == 0 || cycle < cycles {
      cycle &+= 1
      var page = start
      while page < end {
        ilwaco_memory_fill64(UInt64(page), pattern(vmID, cycle, page), UInt64(pageSize / 8))
        page += pageSize
      }
      sleep(milliseconds: sleepMilliseconds)
      page = start
      while page < end {
        let expected = pattern(vmID, cycle, page)
        let matched = ilwaco_memory_match64(UInt64(page), expected, UInt64(pageSize / 8))
        if matched != UInt64(pageSize / 8) {
          Console.print("memcheck: MISMATCH vm ")
          Console.print(vmID)
          Console.print(" cycle ")
          Console.print(cycle)
          Console.print(" page ")
          Console.print(UInt64(page))
          Console.print(" word ")
          Console.print(matched)
          Console.print("\n")
          return 1
        }
        page += pageSize
      }
      memcheckCycles = cycle
    }
    Console.print("memcheck: ok ")
    Console.print(cycle)
    Console.print(" cycles\n")
    return 0
  }

  /// The value every word of `page` holds in `cycle`: differs between VMs, cycles and pages, never zero.
  static func pattern(_ vmID: UInt64, _ cycle: UInt64, _ page: Int) -> UInt64 {
    var value = vmID &* 0x9E37_79B9_7F4A_7C15 ^ cycle &* 0xC2B2_AE3D_27D4_EB4F ^ UInt64(page) &* 0x1656_67B1_9E37_79F9
    value ^= value >> 29
    return value | 1
  }

  /// Reports memory that did not start fresh and returns exit status 3.
  static func notFresh(_ what: StaticString, _ value: UInt64) -> Int32 {
    Console.print("memcheck: NOT FRESH ")
    Console.print(what)
    Console.print(" ")
    Console.print(value)
    Console.print("\n")
    return 3
  }

  static func usage() -> Int32 {
    Console.print("usage: memcheck [CYCLES] [SLEEP_MS] [KIB] (decimal; CYCLES 0 = forever)\n")
    return 2
  }
}
