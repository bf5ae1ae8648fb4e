// BootInfoTests.swift: the boot information page a guest reads at start: header, argv and strings.
import DenaliABI
import KVM
import Testing

@testable import DenaliCore

private let headerSize: UInt64 = 48
private let argsMax = Int(DENALI_BOOT_ARGS_MAX)

/// Reads the NUL-terminated string at `address`, which must end before `limit`.
private func cString(_ memory: GuestMemory, at address: UInt64, limit: UInt64) throws -> [UInt8]? {
  var bytes: [UInt8] = []
  var cursor = address
  while cursor < limit {
    let byte = try memory.read(UInt8.self, at: cursor)
    if byte == 0 { return bytes }
    bytes.append(byte)
    cursor += 1
  }
  return nil
}

/// Writes `info` into a fresh 4 MiB memory.
private func written(_ info: BootInfo) throws -> GuestMemory {
  let memory = try GuestMemory(size: 4 << 20)
  try info.write(to: memory)
  return memory
}

@Suite struct BootInfoTests {
  @Test func headerSizeMatchesABI() {
    #expect(MemoryLayout<denali_boot_info>.size == 48)
    #expect(argsMax == 4096 - 48)
  }

  @Test func headerFields() throws {
    let memory = try written(
      BootInfo(memorySize: 4 << 20, imageEnd: 0x10_3000, arguments: ["a", "bc"], randomSeed: 0x1234_5678_9ABC_DEF0))
    let base = DENALI_GPA_BOOT_INFO
    #expect(try memory.read(UInt32.self, at: base) == 0x494C_4E44)
    #expect(try memory.bytes(at: base, count: 4) == Array("DNLI".utf8))
    #expect(try memory.read(UInt32.self, at: base + 4) == DENALI_ABI_VERSION)
    #expect(try memory.read(UInt64.self, at: base + 8) == 4 << 20)
    #expect(try memory.read(UInt64.self, at: base + 16) == 0x10_3000)
    #expect(try memory.read(UInt32.self, at: base + 24) == 2)
    #expect(try memory.read(UInt32.self, at: base + 28) == 0)
    #expect(try memory.read(UInt64.self, at: base + 32) == base + headerSize)
    #expect(try memory.read(UInt64.self, at: base + 40) == 0x1234_5678_9ABC_DEF0)
  }

  @Test func randomSeedDiffersBetweenVMs() throws {
    // Two fresh boot pages get different seeds (equal by chance with probability 2^-64).
    let first = try written(BootInfo(memorySize: 4 << 20, imageEnd: 0x10_1000, arguments: []))
    let second = try written(BootInfo(memorySize: 4 << 20, imageEnd: 0x10_1000, arguments: []))
    let seeds = try [first, second].map { try $0.read(UInt64.self, at: DENALI_GPA_BOOT_INFO + 40) }
    #expect(seeds[0] != seeds[1], "\(seeds)")
  }

  @Test func argvPointsAtNulTerminatedCopiesInsideTheBootPage() throws {
    let arguments = ["first", "", "with space", "héllo ✓", String(repeating: "z", count: 300)]
    let memory = try written(BootInfo(memorySize: 4 << 20, imageEnd: 0x10_1000, arguments: arguments))
    let info = try memory.load(denali_boot_info.self, at: DENALI_GPA_BOOT_INFO)
    #expect(info.argc == UInt32(arguments.count))
    let pageEnd = DENALI_GPA_BOOT_INFO + 0x1000
    let stringsStart = info.argv + UInt64(arguments.count + 1) * 8
    var expectedPointer = stringsStart
    for (index, argument) in arguments.enumerated() {
      let pointer = try memory.read(UInt64.self, at: info.argv + UInt64(index) * 8)
      #expect(pointer == expectedPointer, "argv[\(index)]")
      #expect(pointer >= stringsStart && pointer < pageEnd)
      #expect(try cString(memory, at: pointer, limit: pageEnd) == Array(argument.utf8), "argv[\(index)]")
      expectedPointer += UInt64(argument.utf8.count + 1)
    }
    #expect(try memory.read(UInt64.self, at: info.argv + UInt64(arguments.count) * 8) == 0)
    // Nothing is written past the last string.
    #expect(try memory.bytes(at: expectedPointer, count: pageEnd - expectedPointer).allSatisfy { $0 == 0 })
    #expect(
      Int(expectedPointer - info.argv) == BootInfo(memorySize: 0, imageEnd: 0, arguments: arguments).argumentBytes)
  }

  @Test func noArgumentsGivesArgcZeroAndNullArgv0() throws {
    let memory = try written(BootInfo(memorySize: 2 << 20, imageEnd: 0x10_1000, arguments: []))
    let info = try memory.load(denali_boot_info.self, at: DENALI_GPA_BOOT_INFO)
    #expect(info.argc == 0)
    #expect(info.argv == DENALI_GPA_BOOT_INFO + 48)
    #expect(try memory.read(UInt64.self, at: info.argv) == 0)
    #expect(BootInfo(memorySize: 0, imageEnd: 0, arguments: []).argumentBytes == 8)
  }

  @Test func argumentBytesCountsPointersStringsAndNuls() {
    #expect(BootInfo(memorySize: 0, imageEnd: 0, arguments: ["ab", "c"]).argumentBytes == 3 * 8 + 3 + 2)
    #expect(BootInfo(memorySize: 0, imageEnd: 0, arguments: ["é"]).argumentBytes == 2 * 8 + 3)
  }

  @Test func exactlyAtTheLimitFitsAndIsWrittenInsideThePage() throws {
    // One argument: 2 pointers + length + NUL == limit.
    let argument = String(repeating: "a", count: argsMax - 16 - 1)
    let info = BootInfo(memorySize: 4 << 20, imageEnd: 0x10_1000, arguments: [argument])
    #expect(info.argumentBytes == argsMax)
    #expect(info.argumentsFit)
    let memory = try written(info)
    let pointer = try memory.read(UInt64.self, at: DENALI_GPA_BOOT_INFO + 48)
    #expect(pointer == DENALI_GPA_BOOT_INFO + 48 + 16)
    #expect(try cString(memory, at: pointer, limit: DENALI_GPA_BOOT_INFO + 0x1000) == Array(argument.utf8))
    // The terminating NUL is the last byte of the boot page; the next page is untouched.
    #expect(try memory.read(UInt8.self, at: DENALI_GPA_BOOT_INFO + 0xFFF) == 0)
    #expect(try memory.read(UInt8.self, at: DENALI_GPA_BOOT_INFO + 0xFFE) == UInt8(ascii: "a"))
    #expect(try memory.bytes(at: DENALI_GPA_VREGS, count: 0x1000).allSatisfy { $0 == 0 })
  }

  @Test func oneByteOverTheLimitDoesNotFit() {
    let argument = String(repeating: "a", count: argsMax - 16)
    let info = BootInfo(memorySize: 4 << 20, imageEnd: 0, arguments: [argument])
    #expect(info.argumentBytes == argsMax + 1)
    #expect(!info.argumentsFit)
  }

  @Test func manyEmptyArgumentsCountTheirPointers() {
    // Each empty argument costs 9 bytes (pointer + NUL), plus the final null pointer.
    let fitting = (argsMax - 8) / 9
    #expect(BootInfo(memorySize: 0, imageEnd: 0, arguments: Array(repeating: "", count: fitting)).argumentsFit)
    #expect(!BootInfo(memorySize: 0, imageEnd: 0, arguments: Array(repeating: "", count: fitting + 1)).argumentsFit)
  }

  @Test(arguments: ["\0", "a\0", "\0b", "a\0b"])
  func argumentWithNulDoesNotFit(bad: String) {
    #expect(!BootInfo(memorySize: 4 << 20, imageEnd: 0, arguments: ["ok", bad]).argumentsFit)
    #expect(BootInfo(memorySize: 4 << 20, imageEnd: 0, arguments: ["ok"]).argumentsFit)
  }
}
