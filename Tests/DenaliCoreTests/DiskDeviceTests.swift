// DiskDeviceTests.swift: the disk hypercalls' checks, in order, and real reads and writes through a scratch file.
import DenaliABI
import Foundation
import KVM
import Testing

@testable import DenaliCore

@Suite("DiskDevice")
struct DiskDeviceTests {
  static let request: UInt64 = 0x9_0000
  static let buffer: UInt64 = 0x10_0000

  /// A table with `disk` registered, 4 MiB of memory, and a disk_io request written at `request`.
  func setUp(disk: DiskFile?) throws -> (HypercallTable, GuestMemory) {
    var table = HypercallTable()
    DiskDevice(file: disk).register(in: &table)
    return (table, try GuestMemory(size: 4 << 20))
  }

  func io(
    _ table: HypercallTable, _ memory: GuestMemory, _ number: UInt32, block: UInt64, count: UInt64,
    buffer: UInt64 = buffer
  ) throws -> Int64 {
    var call = denali_hc_disk_io()
    call.block = block
    call.count = count
    call.buffer = buffer
    try memory.store(call, at: Self.request)
    #expect(table.dispatch(number: UInt16(number), structAddress: Self.request, memory: memory) == .resume)
    return try memory.read(Int64.self, at: Self.request)
  }

  @Test("without a disk: info reports ENODEV and zero blocks, reads and writes ENODEV")
  func noDisk() throws {
    let (table, memory) = try setUp(disk: nil)
    var info = denali_hc_disk_info()
    info.blocks = 99
    try memory.store(info, at: Self.request)
    _ = table.dispatch(number: UInt16(DENALI_HC_DISK_INFO), structAddress: Self.request, memory: memory)
    let answer = try memory.load(denali_hc_disk_info.self, at: Self.request)
    #expect(answer.ret == Int64(DENALI_ENODEV) && answer.blocks == 0)
    #expect(try io(table, memory, DENALI_HC_DISK_READ, block: 0, count: 1) == Int64(DENALI_ENODEV))
  }

  @Test("argument checks in ABI order: count, range (with overflow), buffer, read-only")
  func checks() throws {
    let disk = try DiskFile.scratch(size: 16 * 4096)
    let (table, memory) = try setUp(disk: disk)
    #expect(try io(table, memory, DENALI_HC_DISK_READ, block: 0, count: 0) == Int64(DENALI_EINVAL))
    #expect(try io(table, memory, DENALI_HC_DISK_READ, block: 0, count: 65) == Int64(DENALI_EINVAL))
    #expect(try io(table, memory, DENALI_HC_DISK_READ, block: 16, count: 1) == Int64(DENALI_ERANGE))
    #expect(try io(table, memory, DENALI_HC_DISK_READ, block: 15, count: 2) == Int64(DENALI_ERANGE))
    #expect(try io(table, memory, DENALI_HC_DISK_READ, block: .max, count: 2) == Int64(DENALI_ERANGE))
    #expect(
      try io(table, memory, DENALI_HC_DISK_READ, block: 0, count: 1, buffer: (4 << 20) - 4095) == Int64(DENALI_EFAULT))
    #expect(try io(table, memory, DENALI_HC_DISK_READ, block: 0, count: 2, buffer: .max - 100) == Int64(DENALI_EFAULT))
    #expect(try io(table, memory, DENALI_HC_DISK_READ, block: 15, count: 1) == 1)
  }

  @Test("written blocks land in the file at block * 4096 and read back into guest memory")
  func roundTrip() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("denali-unit-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let disk = try DiskFile(path: path, createSize: 8 * 4096)
    let (table, memory) = try setUp(disk: disk)
    let pattern = (0..<(2 * 4096)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
    try memory.write(pattern, at: Self.buffer)
    #expect(try io(table, memory, DENALI_HC_DISK_WRITE, block: 3, count: 2) == 2)
    let file = try Data(contentsOf: URL(fileURLWithPath: path))
    #expect(Array(file[(3 * 4096)..<(5 * 4096)]) == pattern)
    #expect(file[0..<(3 * 4096)].allSatisfy { $0 == 0 })
    try memory.zero(at: Self.buffer, count: 2 * 4096)
    #expect(try io(table, memory, DENALI_HC_DISK_READ, block: 3, count: 2) == 2)
    #expect(try memory.bytes(at: Self.buffer, count: 2 * 4096) == pattern)
  }

  @Test("a read-only disk refuses writes with EROFS and keeps its bytes")
  func readOnly() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("denali-unit-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    FileManager.default.createFile(atPath: path, contents: Data(repeating: 0xAB, count: 4096))
    let (table, memory) = try setUp(disk: try DiskFile(path: path, readOnly: true))
    #expect(try io(table, memory, DENALI_HC_DISK_WRITE, block: 0, count: 1) == Int64(DENALI_EROFS))
    #expect(try io(table, memory, DENALI_HC_DISK_READ, block: 0, count: 1) == 1)
    #expect(try memory.read(UInt8.self, at: Self.buffer + 4095) == 0xAB)
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(repeating: 0xAB, count: 4096))
  }

  @Test("disk files: bad sizes, directories and size mismatches are refused")
  func badFiles() throws {
    #expect(throws: DiskFileError.notARegularFile(path: "/tmp")) { try DiskFile(path: "/tmp", readOnly: true) }
    #expect(throws: DiskFileError.system(path: "/tmp", operation: "open", errno: EISDIR)) { try DiskFile(path: "/tmp") }
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("denali-unit-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    FileManager.default.createFile(atPath: path, contents: Data(count: 5000))
    #expect(throws: DiskFileError.badSize(path: path, size: 5000)) { try DiskFile(path: path) }
    #expect(throws: DiskFileError.sizeMismatch(path: path, existing: 5000, requested: 8192)) {
      try DiskFile(path: path, createSize: 8192)
    }
  }
}

@Suite("VirtualInterrupts")
struct VirtualInterruptsTests {
  @Test("a wait ends at its deadline, reports it, and take() delivers and clears the mask")
  func deadline() {
    let interrupts = VirtualInterrupts()
    let start = monotonicNanoseconds()
    #expect(interrupts.wait(untilMonotonicNanoseconds: start + 20_000_000))
    #expect(monotonicNanoseconds() - start >= 20_000_000)
    interrupts.raise(DENALI_IRQ_TIMER | DENALI_IRQ_DISK)
    #expect(interrupts.take() == DENALI_IRQ_TIMER | DENALI_IRQ_DISK)
    #expect(interrupts.take() == 0)
  }

  @Test("a bit raised from another thread ends a wait with no deadline")
  func raiseWakes() {
    let interrupts = VirtualInterrupts()
    let thread = Thread {
      Thread.sleep(forTimeInterval: 0.05)
      interrupts.raise(DENALI_IRQ_NET_RX)
    }
    thread.start()
    #expect(!interrupts.wait(untilMonotonicNanoseconds: nil))
    #expect(interrupts.current == DENALI_IRQ_NET_RX)
  }

  @Test("wake() ends a wait early without a pending bit")
  func wakeEndsWait() {
    let interrupts = VirtualInterrupts()
    let thread = Thread {
      Thread.sleep(forTimeInterval: 0.05)
      interrupts.wake()
    }
    thread.start()
    let start = monotonicNanoseconds()
    #expect(!interrupts.wait(untilMonotonicNanoseconds: start + 10_000_000_000))
    #expect(monotonicNanoseconds() - start < 5_000_000_000)
    #expect(interrupts.current == 0)
  }
}
