// VMConfigurationTests.swift: configuration checks, and GuestVM running tiny hand-assembled guests on /dev/kvm.
import DenaliABI
import DenaliCore
import Foundation
import KVM
import Testing

// MARK: - Configuration validation (no KVM)

@Suite struct VMConfigurationTests {
  @Test func defaultsAreValid() throws {
    let configuration = VMConfiguration()
    #expect(configuration.memorySize == 4 << 20)
    #expect(configuration.arguments.isEmpty)
    #expect(configuration.timeout == nil)
    try configuration.validate()
  }

  static let goodSizes: [UInt64] = [2 << 20, 4 << 20, 64 << 20, (1 << 30) - (2 << 20), 1 << 30]
  static let badSizes: [UInt64] = [
    0, 4096, 1 << 20, (2 << 20) - 4096,  // below 2 MiB
    (1 << 30) + (2 << 20), 2 << 30, UInt64.max - ((2 << 20) - 1),  // above 1 GiB
    (2 << 20) + 4096, 3 << 20, (4 << 20) + (1 << 20), (1 << 30) - 4096,  // not 2 MiB aligned
  ]

  @Test(arguments: goodSizes)
  func acceptsAlignedSizesInBounds(size: UInt64) throws {
    try VMConfiguration(memorySize: size).validate()
  }

  @Test(arguments: badSizes)
  func refusesBadMemorySizes(size: UInt64) {
    #expect(throws: VMSetupError.invalidMemorySize(size)) { try VMConfiguration(memorySize: size).validate() }
  }

  @Test(arguments: [Duration.zero, .nanoseconds(-1), .seconds(-5)])
  func refusesNonPositiveTimeouts(timeout: Duration) {
    #expect(throws: VMSetupError.invalidTimeout(timeout)) { try VMConfiguration(timeout: timeout).validate() }
  }

  @Test func acceptsPositiveTimeouts() throws {
    try VMConfiguration(timeout: .nanoseconds(1)).validate()
    try VMConfiguration(timeout: .seconds(3600)).validate()
  }

  @Test func refusesArgumentsThatDoNotFit() {
    let limit = Int(DENALI_BOOT_ARGS_MAX)
    let tooLong = String(repeating: "x", count: limit - 16)
    #expect(throws: VMSetupError.argumentsTooLong(bytes: limit + 1, limit: limit)) {
      try VMConfiguration(arguments: [tooLong]).validate()
    }
    #expect(throws: VMSetupError.argumentsTooLong(bytes: 8 * 3 + 2 + 3, limit: limit)) {
      try VMConfiguration(arguments: ["a", "b\0"]).validate()
    }
  }

  @Test func acceptsArgumentsExactlyAtTheLimit() throws {
    let limit = Int(DENALI_BOOT_ARGS_MAX)
    try VMConfiguration(arguments: [String(repeating: "x", count: limit - 17)]).validate()
  }

  @Test func memorySizeIsCheckedBeforeTimeoutAndArguments() {
    let configuration = VMConfiguration(memorySize: 3 << 20, arguments: ["a\0"], timeout: .zero)
    #expect(throws: VMSetupError.invalidMemorySize(3 << 20)) { try configuration.validate() }
  }

  @Test func errorsAreUsageErrorsWithUsefulMessages() {
    #expect(VMSetupError.invalidMemorySize(3 << 20).isUsageError)
    #expect(VMSetupError.invalidMemorySize(3 << 20).description.contains("3MiB"))
    #expect(VMSetupError.memoryTooSmall(imageEnd: 0x1F_8000, memorySize: 2 << 20).description.contains("0x1f8000"))
    #expect(!VMSetupError.kvm(KVMError(operation: "x", errno: 1)).isUsageError)
    #expect(!VMSetupError.notRestorable(path: "/s/vm-1.swap").isUsageError)
    #expect(!VMSetupError.swapImage(.noImage(vmID: 1)).isUsageError)
  }
}

// MARK: - GuestVM on /dev/kvm

/// A static ELF64 ET_EXEC for x86-64 with one PT_LOAD (R+X, or R+W+X) at `address` holding `code`,
/// occupying `memorySize` bytes of guest memory (at least `code.count`), entered at `address`.
private func tinyELF(code: [UInt8], address: UInt64 = 0x10_0000, memorySize: UInt64? = nil) -> [UInt8] {
  var file: [UInt8] = []
  func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { file += $0 } }
  let codeOffset: UInt64 = 64 + 56
  // ELF header.
  file += [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + Array(repeating: 0, count: 8)
  put(UInt16(2))  // ET_EXEC
  put(UInt16(62))  // EM_X86_64
  put(UInt32(1))  // e_version
  put(address)  // e_entry
  put(UInt64(64))  // e_phoff
  put(UInt64(0))  // e_shoff
  put(UInt32(0))  // e_flags
  put(UInt16(64))  // e_ehsize
  put(UInt16(56))  // e_phentsize
  put(UInt16(1))  // e_phnum
  put(UInt16(64))  // e_shentsize
  put(UInt16(0))  // e_shnum
  put(UInt16(0))  // e_shstrndx
  // PT_LOAD, PF_R | PF_X.
  put(UInt32(1))
  put(UInt32(5))
  put(codeOffset)
  put(address)  // p_vaddr
  put(address)  // p_paddr
  put(UInt64(code.count))
  put(memorySize ?? UInt64(code.count))
  put(UInt64(0x1000))
  precondition(file.count == Int(codeOffset))
  return file + code
}

/// Machine code that terminates the guest with `status` through a struct on its stack.
private func terminateCode(status: Int32) -> [UInt8] {
  let imm = withUnsafeBytes(of: status.littleEndian) { Array($0) }
  return [0x48, 0x83, 0xEC, 0x10]  // sub rsp, 16
    + [0x48, 0xC7, 0x44, 0x24, 0x08] + imm  // mov qword [rsp+8], status
    + [0x48, 0xC7, 0x04, 0x24, 0, 0, 0, 0]  // mov qword [rsp], 0
    + [0x89, 0xE0]  // mov eax, esp
    + [0x66, 0xBA, 0x02, 0x05]  // mov dx, 0x502
    + [0xEF]  // out dx, eax
    + [0xF4]  // hlt
}

/// Collects the console output of a VM.
private final class ConsoleBuffer: @unchecked Sendable {
  var bytes: [UInt8] = []
}

/// Builds a VM running `code` (loaded at 0x100000) with `configuration`.
private func makeVM(
  _ system: KVMSystem, code: [UInt8], configuration: VMConfiguration = VMConfiguration(timeout: .seconds(10)),
  console: ConsoleBuffer = ConsoleBuffer()
) throws -> GuestVM {
  let image = try GuestImage(bytes: tinyELF(code: code), memorySize: configuration.memorySize)
  return try GuestVM(system: system, image: image, configuration: configuration) { console.bytes += $0 }
}

@Suite struct GuestVMTests {
  @Test func terminateHypercallExitsWithStatus42() throws {
    guard let system = try openKVMSystem() else { return }
    let vm = try makeVM(system, code: terminateCode(status: 42))
    #expect(try vm.run() == .exited(status: 42))
    #expect(vm.statistics.hypercalls == 1)
    #expect(vm.statistics.exits.io == 1)
    #expect(vm.statistics.firstHypercall != nil)
  }

  @Test func terminateStatusIsTakenModulo256() throws {
    guard let system = try openKVMSystem() else { return }
    #expect(try makeVM(system, code: terminateCode(status: 300)).run() == .exited(status: 44))
    #expect(try makeVM(system, code: terminateCode(status: -1)).run() == .exited(status: 255))
  }

  @Test func ud2FaultsWithInvalidOpcodeAtTheEntry() throws {
    guard let system = try openKVMSystem() else { return }
    let vm = try makeVM(system, code: [0x0F, 0x0B] + terminateCode(status: 0))
    let outcome = try vm.run()
    #expect(outcome == .faulted(.exception(vector: 6, rip: 0x10_0000, errorCode: nil, faultAddress: nil)))
    if case .faulted(let fault) = outcome { #expect(fault.exitStatus == 134) }
    #expect(vm.statistics.hypercalls == 0)
  }

  @Test func nullDereferencePageFaults() throws {
    guard let system = try openKVMSystem() else { return }
    // nop ; mov rax, [0]
    let vm = try makeVM(system, code: [0x90, 0x48, 0x8B, 0x04, 0x25, 0, 0, 0, 0] + terminateCode(status: 0))
    #expect(try vm.run() == .faulted(.exception(vector: 14, rip: 0x10_0001, errorCode: 0, faultAddress: 0)))
  }

  @Test func hltWithoutTerminateIsHaltedFault() throws {
    guard let system = try openKVMSystem() else { return }
    let vm = try makeVM(system, code: [0x90, 0x90, 0xF4])
    #expect(try vm.run() == .faulted(.halted(rip: 0x10_0002)))
  }

  @Test func consoleWriteThenTerminate() throws {
    guard let system = try openKVMSystem() else { return }
    let message = Array("hello from the guest\n".utf8)
    var code: [UInt8] = []
    func imm32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    let codeLength = 4 + 9 + 9 + 8 + 2 + 4 + 1 + 4 + 5 + 8 + 2 + 4 + 1 + 1
    let messageAddress = UInt32(0x10_0000 + codeLength)
    code += [0x48, 0x83, 0xEC, 0x20]  // sub rsp, 32
    code += [0x48, 0xC7, 0x44, 0x24, 0x10] + imm32(UInt32(message.count))  // mov qword [rsp+16], length
    code += [0x48, 0xC7, 0x44, 0x24, 0x08] + imm32(messageAddress)  // mov qword [rsp+8], data
    code += [0x48, 0xC7, 0x04, 0x24, 0, 0, 0, 0]  // mov qword [rsp], 0
    code += [0x89, 0xE0, 0x66, 0xBA, 0x01, 0x05, 0xEF]  // mov eax, esp ; mov dx, 0x501 ; out dx, eax
    code += [0x48, 0x8B, 0x04, 0x24]  // mov rax, [rsp]   (ret: bytes written)
    code += [0x48, 0x89, 0x44, 0x24, 0x08]  // mov [rsp+8], rax (terminate status)
    code += [0x48, 0xC7, 0x04, 0x24, 0, 0, 0, 0]  // mov qword [rsp], 0
    code += [0x89, 0xE0, 0x66, 0xBA, 0x02, 0x05, 0xEF, 0xF4]  // mov eax, esp ; mov dx, 0x502 ; out dx, eax ; hlt
    #expect(code.count == codeLength)
    code += message
    let console = ConsoleBuffer()
    let vm = try makeVM(system, code: code, console: console)
    #expect(try vm.run() == .exited(status: Int32(message.count)))
    #expect(console.bytes == message)
    #expect(vm.console.bytesWritten == UInt64(message.count))
    #expect(vm.statistics.hypercalls == 2)
  }

  @Test func guestSeesBootInfoInRDI() throws {
    guard let system = try openKVMSystem() else { return }
    // Terminates with argc (read through rdi) plus 10 * (magic matches).
    let code: [UInt8] =
      [0x48, 0x83, 0xEC, 0x10]  // sub rsp, 16
      + [0x8B, 0x47, 0x18]  // mov eax, [rdi+24]  (argc)
      + [0x81, 0x3F, 0x44, 0x4E, 0x4C, 0x49]  // cmp dword [rdi], 'DNLI'
      + [0x75, 0x03]  // jne +3
      + [0x83, 0xC0, 0x0A]  // add eax, 10
      + [0x48, 0x89, 0x44, 0x24, 0x08]  // mov [rsp+8], rax
      + [0x48, 0xC7, 0x04, 0x24, 0, 0, 0, 0]  // mov qword [rsp], 0
      + [0x89, 0xE0, 0x66, 0xBA, 0x02, 0x05, 0xEF, 0xF4]
    let configuration = VMConfiguration(arguments: ["one", "two", "three"], timeout: .seconds(10))
    #expect(try makeVM(system, code: code, configuration: configuration).run() == .exited(status: 13))
  }

  @Test func misalignedHypercallStructFaults() throws {
    guard let system = try openKVMSystem() else { return }
    // mov eax, 3 ; mov dx, 0x502 ; out dx, eax ; hlt
    let vm = try makeVM(system, code: [0xB8, 3, 0, 0, 0, 0x66, 0xBA, 0x02, 0x05, 0xEF, 0xF4])
    let outcome = try vm.run()
    guard case .faulted(.invalidHypercall(let number, let address, _)) = outcome else {
      Issue.record("expected invalidHypercall, got \(outcome)")
      return
    }
    #expect(number == 2)
    #expect(address == 3)
    #expect(vm.statistics.hypercalls == 1)
  }

  @Test func nonHypercallPortIsInvalidPortIO() throws {
    guard let system = try openKVMSystem() else { return }
    // mov dx, 0x60 ; in al, dx ; hlt
    let vm = try makeVM(system, code: [0x66, 0xBA, 0x60, 0x00, 0xEC, 0xF4])
    let outcome = try vm.run()
    guard case .faulted(.invalidPortIO(let port, let isInput, let size, let count, _)) = outcome else {
      Issue.record("expected invalidPortIO, got \(outcome)")
      return
    }
    #expect(port == 0x60 && isInput && size == 1 && count == 1)
  }

  @Test func infiniteLoopTimesOut() throws {
    guard let system = try openKVMSystem() else { return }
    let vm = try makeVM(system, code: [0xEB, 0xFE], configuration: VMConfiguration(timeout: .milliseconds(200)))
    let start = ContinuousClock.now
    #expect(try vm.run() == .timedOut)
    let elapsed = ContinuousClock.now - start
    #expect(elapsed >= .milliseconds(200))
    #expect(elapsed < .seconds(5))
  }

  @Test func imageLeavingLessThan64KiBIsMemoryTooSmall() throws {
    guard let system = try openKVMSystem() else { return }
    let memory: UInt64 = 2 << 20
    let configuration = VMConfiguration(memorySize: memory, timeout: .seconds(10))
    // The segment ends 32 KiB below the top of memory.
    let tight = try GuestImage(
      bytes: tinyELF(code: terminateCode(status: 1), memorySize: memory - 0x10_0000 - 0x8000), memorySize: memory)
    #expect(tight.end == 0x1F_8000)
    #expect(throws: VMSetupError.memoryTooSmall(imageEnd: 0x1F_8000, memorySize: memory)) {
      _ = try GuestVM(system: system, image: tight, configuration: configuration) { _ in }
    }
    // One byte more than 64 KiB below the top still leaves less than 64 KiB after rounding up.
    let almost = try GuestImage(
      bytes: tinyELF(code: terminateCode(status: 1), memorySize: memory - 0x10_0000 - 0x1_0000 + 1),
      memorySize: memory)
    #expect(throws: VMSetupError.memoryTooSmall(imageEnd: 0x1F_1000, memorySize: memory)) {
      _ = try GuestVM(system: system, image: almost, configuration: configuration) { _ in }
    }
    // Exactly 64 KiB free is enough, and the guest runs.
    let exact = try GuestImage(
      bytes: tinyELF(code: terminateCode(status: 1), memorySize: memory - 0x10_0000 - 0x1_0000), memorySize: memory)
    #expect(exact.end == 0x1F_0000)
    let vm = try GuestVM(system: system, image: exact, configuration: configuration) { _ in }
    #expect(try vm.run() == .exited(status: 1))
  }

  @Test func imageValidatedForLargerMemoryIsMemoryTooSmall() throws {
    guard let system = try openKVMSystem() else { return }
    let image = try GuestImage(
      bytes: tinyELF(code: terminateCode(status: 1), memorySize: 0x20_0000), memorySize: 4 << 20)
    #expect(image.end == 0x30_0000)
    #expect(throws: VMSetupError.memoryTooSmall(imageEnd: 0x30_0000, memorySize: 2 << 20)) {
      _ = try GuestVM(system: system, image: image, configuration: VMConfiguration(memorySize: 2 << 20)) { _ in }
    }
  }

  @Test func invalidConfigurationIsRefusedBeforeCreatingTheVM() throws {
    guard let system = try openKVMSystem() else { return }
    let image = try GuestImage(bytes: tinyELF(code: terminateCode(status: 1)), memorySize: 4 << 20)
    #expect(throws: VMSetupError.invalidMemorySize(3 << 20)) {
      _ = try GuestVM(system: system, image: image, configuration: VMConfiguration(memorySize: 3 << 20)) { _ in }
    }
  }
}
