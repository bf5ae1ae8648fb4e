// HypercallTableTests.swift: hypercall dispatch and the console device against plain guest memory (no KVM).
import DenaliABI
import KVM
import Testing

@testable import DenaliCore

/// Collects every console write, in order.
private final class ConsoleCapture {
  var writes: [[UInt8]] = []
  var sink: ConsoleDevice.Sink { { [self] buffer in writes.append(Array(buffer)) } }
}

/// A 2 MiB guest memory, a table with terminate and the console registered, and the captured console output.
private func makeMachine() throws -> (HypercallTable, ConsoleDevice, ConsoleCapture, GuestMemory) {
  let memory = try GuestMemory(size: 2 << 20)
  let capture = ConsoleCapture()
  let console = ConsoleDevice(sink: capture.sink)
  var table = HypercallTable()
  console.register(in: &table)
  return (table, console, capture, memory)
}

private let structAddress: UInt64 = 0x10_0000
private let terminate = UInt16(DENALI_HC_TERMINATE)
private let consoleWrite = UInt16(DENALI_HC_CONSOLE_WRITE)

/// Writes a console-write struct at `structAddress` with `ret` preset to a sentinel.
private func storeConsoleWrite(_ memory: GuestMemory, data: UInt64, length: UInt64) throws {
  var call = denali_hc_console_write()
  call.ret = 0x5A5A
  call.data = data
  call.length = length
  try memory.store(call, at: structAddress)
}

@Suite struct HypercallTableTests {
  static let statuses: [(Int64, Int32)] = [
    (0, 0), (42, 42), (255, 255), (256, 0), (300, 44), (-1, 255), (-256, 0), (-212, 44), (Int64.min, 0),
    (Int64.max, 255),
  ]

  @Test(arguments: statuses)
  func terminateTakesStatusModulo256(status: Int64, expected: Int32) throws {
    let (table, _, _, memory) = try makeMachine()
    var call = denali_hc_terminate()
    call.status = status
    try memory.store(call, at: structAddress)
    #expect(
      table.dispatch(number: terminate, structAddress: structAddress, memory: memory) == .terminate(status: expected))
  }

  @Test func consoleWriteReachesSinkAndReturnsLength() throws {
    let (table, console, capture, memory) = try makeMachine()
    let text = Array("hello, denali\n".utf8)
    try memory.write(text, at: 0x12_0000)
    try storeConsoleWrite(memory, data: 0x12_0000, length: UInt64(text.count))
    #expect(table.dispatch(number: consoleWrite, structAddress: structAddress, memory: memory) == .resume)
    #expect(capture.writes == [text])
    #expect(try memory.read(Int64.self, at: structAddress) == Int64(text.count))
    #expect(console.bytesWritten == UInt64(text.count))
    // The IN fields are left as they were.
    #expect(try memory.read(UInt64.self, at: structAddress + 8) == 0x12_0000)
    #expect(try memory.read(UInt64.self, at: structAddress + 16) == UInt64(text.count))

    // A second write accumulates.
    try storeConsoleWrite(memory, data: 0x12_0000, length: 5)
    #expect(table.dispatch(number: consoleWrite, structAddress: structAddress, memory: memory) == .resume)
    #expect(capture.writes == [text, Array("hello".utf8)])
    #expect(try memory.read(Int64.self, at: structAddress) == 5)
    #expect(console.bytesWritten == UInt64(text.count) + 5)
  }

  @Test func consoleWriteOfExactlyTheMaximumIsAccepted() throws {
    let (table, _, capture, memory) = try makeMachine()
    let max = UInt64(DENALI_CONSOLE_WRITE_MAX)
    try memory.write(Array(repeating: UInt8(ascii: "x"), count: Int(max)), at: 0x12_0000)
    try storeConsoleWrite(memory, data: 0x12_0000, length: max)
    #expect(table.dispatch(number: consoleWrite, structAddress: structAddress, memory: memory) == .resume)
    #expect(try memory.read(Int64.self, at: structAddress) == Int64(max))
    #expect(capture.writes.count == 1)
    #expect(capture.writes.first?.count == Int(max))
  }

  @Test func consoleWriteEndingExactlyAtTheEndOfMemoryIsAccepted() throws {
    let (table, _, capture, memory) = try makeMachine()
    try memory.write(Array("end".utf8), at: memory.size - 3)
    try storeConsoleWrite(memory, data: memory.size - 3, length: 3)
    #expect(table.dispatch(number: consoleWrite, structAddress: structAddress, memory: memory) == .resume)
    #expect(try memory.read(Int64.self, at: structAddress) == 3)
    #expect(capture.writes == [Array("end".utf8)])
  }

  static let outsideRanges: [(UInt64, UInt64)] = [
    (2 << 20, 1),  // starts at the end of memory
    ((2 << 20) - 3, 4),  // straddles the end of memory
    (1 << 40, 8),  // far outside
    ((2 << 20) + 1, 0),  // empty, but outside
  ]

  @Test(arguments: outsideRanges)
  func consoleWriteOutsideMemoryIsEFAULT(data: UInt64, length: UInt64) throws {
    let (table, console, capture, memory) = try makeMachine()
    try storeConsoleWrite(memory, data: data, length: length)
    #expect(table.dispatch(number: consoleWrite, structAddress: structAddress, memory: memory) == .resume)
    #expect(try memory.read(Int64.self, at: structAddress) == Int64(DENALI_EFAULT))
    #expect(capture.writes.isEmpty)
    #expect(console.bytesWritten == 0)
  }

  @Test(arguments: [UInt64.max, UInt64.max - 15, UInt64.max - 4095])
  func consoleWriteWhoseRangeWrapsIsEFAULT(data: UInt64) throws {
    let (table, _, capture, memory) = try makeMachine()
    try storeConsoleWrite(memory, data: data, length: 4096)
    #expect(table.dispatch(number: consoleWrite, structAddress: structAddress, memory: memory) == .resume)
    #expect(try memory.read(Int64.self, at: structAddress) == Int64(DENALI_EFAULT))
    #expect(capture.writes.isEmpty)
  }

  @Test(arguments: [UInt64(DENALI_CONSOLE_WRITE_MAX) + 1, 1 << 20, UInt64.max])
  func consoleWriteLongerThanTheMaximumIsEINVAL(length: UInt64) throws {
    let (table, _, capture, memory) = try makeMachine()
    try storeConsoleWrite(memory, data: 0x10_0000, length: length)
    #expect(table.dispatch(number: consoleWrite, structAddress: structAddress, memory: memory) == .resume)
    #expect(try memory.read(Int64.self, at: structAddress) == Int64(DENALI_EINVAL))
    #expect(capture.writes.isEmpty)
  }

  @Test(arguments: [UInt16(7), 17, UInt16(DENALI_HYPERCALL_MAX) - 1])
  func unknownNumberGetsENOSYSAndResumes(number: UInt16) throws {
    let (table, _, capture, memory) = try makeMachine()
    try memory.write(Int64(0x1234), at: structAddress)
    try memory.write(UInt64(0xDEAD), at: structAddress + 8)
    #expect(table.dispatch(number: number, structAddress: structAddress, memory: memory) == .resume)
    #expect(try memory.read(Int64.self, at: structAddress) == Int64(DENALI_ENOSYS))
    #expect(try memory.read(UInt64.self, at: structAddress + 8) == 0xDEAD)
    #expect(capture.writes.isEmpty)
  }

  @Test(arguments: [UInt16(DENALI_HYPERCALL_MAX), UInt16(DENALI_HYPERCALL_MAX) + 1, 0xFF, UInt16.max])
  func numberAtOrAboveTheMaximumGetsENOSYS(number: UInt16) throws {
    let (table, _, _, memory) = try makeMachine()
    try memory.write(Int64(0x1234), at: structAddress)
    #expect(table.dispatch(number: number, structAddress: structAddress, memory: memory) == .resume)
    #expect(try memory.read(Int64.self, at: structAddress) == Int64(DENALI_ENOSYS))
  }

  @Test(arguments: [UInt64(1), 4, 7, 0x10_0004])
  func misalignedStructIsRefused(address: UInt64) throws {
    let (table, _, capture, memory) = try makeMachine()
    try memory.write(Array("abc".utf8), at: 0x12_0000)
    var call = denali_hc_console_write()
    call.data = 0x12_0000
    call.length = 3
    try memory.store(call, at: address)
    #expect(table.dispatch(number: consoleWrite, structAddress: address, memory: memory) == nil)
    #expect(table.dispatch(number: terminate, structAddress: address, memory: memory) == nil)
    #expect(table.dispatch(number: 9, structAddress: address, memory: memory) == nil)
    #expect(capture.writes.isEmpty)
    #expect(try memory.read(Int64.self, at: address) == 0)
  }

  @Test func structStraddlingTheEndOfMemoryIsRefused() throws {
    let (table, _, capture, memory) = try makeMachine()
    // console_write is 24 bytes: 8 before the end leaves 16 outside.
    #expect(table.dispatch(number: consoleWrite, structAddress: memory.size - 8, memory: memory) == nil)
    #expect(table.dispatch(number: consoleWrite, structAddress: memory.size - 16, memory: memory) == nil)
    // terminate is 16 bytes: 8 before the end leaves 8 outside.
    #expect(table.dispatch(number: terminate, structAddress: memory.size - 8, memory: memory) == nil)
    #expect(capture.writes.isEmpty)
    #expect(try memory.read(Int64.self, at: memory.size - 8) == 0)
  }

  @Test func structEndingExactlyAtTheEndOfMemoryIsAccepted() throws {
    let (table, _, _, memory) = try makeMachine()
    let address = memory.size - 16
    try memory.write(Int64(7), at: address + 8)
    #expect(table.dispatch(number: terminate, structAddress: address, memory: memory) == .terminate(status: 7))
  }

  @Test(arguments: [UInt64(2 << 20), UInt64(4 << 20), UInt64(1) << 40, UInt64.max - 7])
  func structOutsideMemoryIsRefused(address: UInt64) throws {
    let (table, _, _, memory) = try makeMachine()
    #expect(table.dispatch(number: terminate, structAddress: address, memory: memory) == nil)
    #expect(table.dispatch(number: consoleWrite, structAddress: address, memory: memory) == nil)
    // An unknown number cannot even have its ret written: that is a fault too.
    #expect(table.dispatch(number: 9, structAddress: address, memory: memory) == nil)
  }

  @Test func zeroLengthWriteReturnsZero() throws {
    let (table, console, capture, memory) = try makeMachine()
    try storeConsoleWrite(memory, data: 0x12_0000, length: 0)
    #expect(table.dispatch(number: consoleWrite, structAddress: structAddress, memory: memory) == .resume)
    #expect(try memory.read(Int64.self, at: structAddress) == 0)
    #expect(capture.writes.allSatisfy { $0.isEmpty })
    #expect(console.bytesWritten == 0)
  }

  @Test func pageZeroIsAValidStructAndBufferAddress() throws {
    // The host checks guest-physical ranges, not the guest's page tables (Docs/ABI.md).
    let (table, _, capture, memory) = try makeMachine()
    try memory.write(Array("zero".utf8), at: 0x40)
    var call = denali_hc_console_write()
    call.data = 0x40
    call.length = 4
    try memory.store(call, at: 0)
    #expect(table.dispatch(number: consoleWrite, structAddress: 0, memory: memory) == .resume)
    #expect(try memory.read(Int64.self, at: 0) == 4)
    #expect(capture.writes == [Array("zero".utf8)])
  }

  @Test func tableWithoutConsoleAnswersConsoleWriteWithENOSYS() throws {
    let memory = try GuestMemory(size: 2 << 20)
    let table = HypercallTable()
    try storeConsoleWrite(memory, data: 0x12_0000, length: 1)
    #expect(table.dispatch(number: consoleWrite, structAddress: structAddress, memory: memory) == .resume)
    #expect(try memory.read(Int64.self, at: structAddress) == Int64(DENALI_ENOSYS))
  }
}
