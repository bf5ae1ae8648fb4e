// evil CASE: a hostile guest that attacks the host one way per run (the cases and their expected outcomes are
// in Docs/GUESTS.md). A case the host answers prints `evil: CASE: ret N` and exits 0; a case the host should
// stop prints nothing, and if it ever continues prints `evil: CASE: not stopped` and exits 1.
// Unknown or missing case: prints the list and exits 2.
import Ilwaco

@main
struct Evil: Guest {
  static let cases: [StaticString] =
    [
      "hc-struct-outside", "hc-struct-misaligned", "hc-data-outside", "hc-length-overflow", "hc-pointer-wrap",
      "hc-unknown", "io-out-byte", "io-out-word", "io-in-hypercall", "io-other-port", "mmio-read", "mmio-write",
      "pagetable-escape", "rdmsr", "wrmsr", "hlt", "triple", "sse", "idle-zero", "idle-forever", "idle-huge",
      "disk-past-end", "disk-block-overflow", "disk-count-zero", "disk-count-huge", "disk-buffer-outside",
      "disk-write-readonly", "disk-none", "trap-port", "console-no-newline",
    ] + networkCases + systemCases

  static func run(_ arguments: Arguments) -> Int32 {
    guard let name = arguments.first else { return usage() }
    let outside = UInt64(memorySize) + 0x1000  // a page past the end of guest memory
    switch name {
    // ---- Hypercall structs and the pointers in them ----
    case "hc-struct-outside":  // console write whose struct lies past the end of memory: stopped, 165
      Hypercall.call(number: DENALI_HC_CONSOLE_WRITE, address: outside)
    case "hc-struct-misaligned":  // a valid console-write struct at an odd address: stopped, 165
      let request = scratch(64) + 1
      // SAFETY: scratch returned 64 writable bytes; bytes 1..<25 hold the struct, unaligned stores allowed on x86.
      request.storeBytes(of: 0, toByteOffset: 0, as: Int64.self)
      request.storeBytes(of: UInt64(UInt(bitPattern: message)), toByteOffset: 8, as: UInt64.self)
      request.storeBytes(of: 4, toByteOffset: 16, as: UInt64.self)
      Hypercall.call(number: DENALI_HC_CONSOLE_WRITE, address: UInt64(UInt(bitPattern: request)))
    case "hc-data-outside":  // data pointer past the end of memory: ret -14
      return report(name, ilwaco_hc_console_write(UnsafeRawPointer(bitPattern: UInt(outside)), 16))
    case "hc-length-overflow":  // valid data, length 2^64-1: ret -22
      return report(name, ilwaco_hc_console_write(message, UInt64.max))
    case "hc-pointer-wrap":  // data + length wraps past 2^64: ret -14
      return report(name, ilwaco_hc_console_write(UnsafeRawPointer(bitPattern: UInt(0xFFFF_FFFF_FFFF_FFF0)), 32))
    case "hc-unknown":  // hypercall 63 with a valid 8-byte struct: ret -38
      var request = denali_hc_nop(ret: 0)
      Hypercall.call(number: DENALI_HYPERCALL_MAX - 1, request: &request)
      return report(name, request.ret)

    // ---- Port I/O that is not a hypercall: stopped, 164 ----
    case "io-out-byte": CPU.out8(port: hypercallPort(1), 0)
    case "io-out-word": CPU.out16(port: hypercallPort(1), 0)
    case "io-in-hypercall": _ = CPU.in32(port: hypercallPort(1))
    case "io-other-port": CPU.out32(port: 0x80, 0)

    // ---- Guest page tables that reach outside guest memory ----
    case "mmio-read":  // PD entry 511 -> 2 MiB page at 1 GiB: an MMIO exit, stopped, 163
      _ = CPU.load(at: mapBeyondMemory())
    case "mmio-write":
      CPU.store(0x5a, at: mapBeyondMemory())
    case "pagetable-escape":  // PML4[1] -> fake PDPT -> 1 GiB page at 4 GiB; write linear 512 GiB: 163 (or 142)
      guard let pdpt = aligned(4096, 4096) else { return outOfMemory(name) }
      CPU.store(0x1_0000_0000 | 0x83, at: pdpt)  // present, writable, 1 GiB page
      CPU.store(pdpt | 0x3, at: DENALI_GPA_PML4 + 8)  // PML4[1]: present, writable
      CPU.reloadPageTables()
      CPU.store(0x5a, at: 512 << 30)

    // ---- Privileged and unsupported instructions ----
    case "rdmsr": _ = CPU.readMSR(0xC0DE_C0DE)  // #GP: 141
    case "wrmsr": CPU.writeMSR(0xC0DE_C0DE, 0)  // #GP: 141
    case "hlt": CPU.halt()  // 161
    case "triple":  // empty IDT, then #UD: #GP, #DF, shutdown: 160
      CPU.loadIDT(base: 0, limit: 0)
      CPU.undefinedInstruction()
    case "sse": CPU.sseXorps()  // emulation failure 162, or #UD 134
    case "trap-port": CPU.out32(port: UInt16(DENALI_PORT_TRAP), 6)  // reported as #UD: 134

    // ---- Idle ----
    case "idle-zero":  // 10000 yields: ret 0
      var firstError: Int64 = 0
      var pending: UInt64 = 0
      for _ in 0..<10_000 {
        let ret = ilwaco_hc_idle(0, &pending)
        if ret != 0 && firstError == 0 { firstError = ret }
      }
      return report(name, firstError)
    case "idle-forever": return idleReturned(name, timeout: UInt64.max)  // never returns: 124 under --timeout
    case "idle-huge": return idleReturned(name, timeout: 1 << 62)  // 146 years: 124 under --timeout

    // ---- Disk requests ----
    case "disk-past-end":  // read block `blocks`: ret -34
      let blocks = BlockDevice.info()?.blocks ?? 0
      return report(name, diskIO(DENALI_HC_DISK_READ, block: blocks, count: 1))
    case "disk-block-overflow":  // block 2^64-1, count 2 (block + count wraps): ret -34
      return report(name, diskIO(DENALI_HC_DISK_READ, block: UInt64.max, count: 2))
    case "disk-count-zero": return report(name, diskIO(DENALI_HC_DISK_READ, block: 0, count: 0))  // ret -22
    case "disk-count-huge":  // 65 blocks, with a buffer that holds them: ret -22
      return report(name, diskIO(DENALI_HC_DISK_READ, block: 0, count: 65))
    case "disk-buffer-outside":  // buffer past the end of memory: ret -14
      return report(name, ilwaco_hc_disk_io(DENALI_HC_DISK_READ, 0, 1, outside))
    case "disk-write-readonly": return report(name, diskIO(DENALI_HC_DISK_WRITE, block: 0, count: 1))  // ret -30
    case "disk-none":  // disk info without a disk: ret -19
      var blocks: UInt64 = 0
      var flags: UInt64 = 0
      return report(name, ilwaco_hc_disk_info(&blocks, &flags))
    case "console-no-newline":
      // MIB (second argument, default 16) MiB of 'x' in 4 KiB console writes, never a newline: ret = bytes.
      guard let mebibytes = arguments.unsignedInteger(at: 1, default: 16), mebibytes <= 1024 else { return usage() }
      let chunk = scratch(4096)
      chunk.initializeMemory(as: UInt8.self, repeating: UInt8(ascii: "x"), count: 4096)
      var written: Int64 = 0
      for _ in 0..<(mebibytes * 256) { written += ilwaco_hc_console_write(chunk, 4096) }
      return report(name, written)
    default:
      return networkCase(name, outside: outside, arguments: arguments) ?? systemCase(name) ?? usage()
    }
    Console.print("evil: ")
    Console.print(name)
    Console.print(": not stopped\n")
    return 1
  }

  /// Four bytes of valid data for console writes.
  static let message = UnsafeRawPointer(("evil" as StaticString).utf8Start)

  /// Port of hypercall `number`.
  static func hypercallPort(_ number: UInt32) -> UInt16 { UInt16(DENALI_HYPERCALL_PORT_BASE + number) }

  /// Prints `evil: NAME: ret N` and returns exit status 0.
  static func report(_ name: String, _ ret: Int64) -> Int32 {
    Console.print("evil: ")
    Console.print(name)
    Console.print(": ret ")
    Console.print(ret)
    Console.print("\n")
    return 0
  }

  /// Idles with `timeout`; if the host ever returns, says so and returns exit status 1.
  static func idleReturned(_ name: String, timeout: UInt64) -> Int32 {
    var pending: UInt64 = 0
    let ret = ilwaco_hc_idle(timeout, &pending)
    Console.print("evil: ")
    Console.print(name)
    Console.print(": idle returned ret ")
    Console.print(ret)
    Console.print(", pending ")
    Console.printHex(pending)
    Console.print("\n")
    return 1
  }

  /// A disk read or write of `count` blocks at `block` with a valid buffer of max(count, 1) blocks.
  static func diskIO(_ number: UInt32, block: UInt64, count: Int) -> Int64 {
    guard let buffer = aligned(max(count, 1) * BlockDevice.blockSize, 4096) else { return Int64.min }
    return ilwaco_hc_disk_io(number, block, UInt64(count), buffer)
  }

  /// Writes PD entry 511 so that linear 511 × 2 MiB maps guest-physical 1 GiB (past any guest's memory, as
  /// memory is at most 1 GiB), reloads CR3, and returns that linear address.
  static func mapBeyondMemory() -> UInt64 {
    CPU.store(0x4000_0000 | 0x83, at: DENALI_GPA_PD + 511 * 8)  // present, writable, 2 MiB page
    CPU.reloadPageTables()
    return 511 << 21
  }

  /// `size` zeroed bytes from the heap aligned to `alignment`, as an address; nil if the heap is too small.
  static func aligned(_ size: Int, _ alignment: Int) -> UInt64? {
    var block: UnsafeMutableRawPointer? = nil
    guard posix_memalign(&block, alignment, size) == 0, let block else { return nil }
    // SAFETY: posix_memalign returned `size` writable bytes at block.
    block.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    return UInt64(UInt(bitPattern: block))
  }

  /// `size` writable scratch bytes from the heap, 16-aligned.
  static func scratch(_ size: Int) -> UnsafeMutableRawPointer {
    UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
  }

  /// Reports that the heap was too small and returns exit status 1.
  static func outOfMemory(_ name: String) -> Int32 {
    Console.print("evil: ")
    Console.print(name)
    Console.print(": out of memory\n")
    return 1
  }

  /// Prints the cases and returns exit status 2.
  static func usage() -> Int32 {
    Console.print("usage: evil CASE, one of:")
    for name in cases {
      Console.print(" ")
      Console.print(name)
    }
    Console.print("\n")
    return 2
  }
}
