// GuestCodeTests.swift: reading the guest's code the way its CPU does (through its own page tables), the
// few instruction facts the host needs, and the check that a hypercall exit came from a single `out dx, eax`.
import CKVM
import DenaliABI
import Testing

@testable import DenaliCore
@testable import KVM

/// Memory of `size` bytes with the machine layout installed, and the long-mode special registers of the ABI.
private func layoutMachine(size: UInt64 = 4 << 20) throws -> GuestLinearMemory {
  let memory = try GuestMemory(size: size)
  try MachineLayout.install(in: memory)
  return GuestLinearMemory(
    memory: memory, specialRegisters: MachineLayout.longModeSpecialRegisters(from: SpecialRegisters(kvm_sregs())))
}

@Suite struct GuestLinearMemoryTests {
  @Test("the host's tables translate identically inside memory, in 4 KiB and 2 MiB pages")
  func identity() throws {
    let code = try layoutMachine()
    for address: UInt64 in [0x1000, 0x9008, 0x10_0000, 0x1F_FFFF, 0x20_0000, 0x3F_FFF8] {
      #expect(code.physicalAddress(of: address) == address)
    }
  }

  @Test("page 0, addresses past memory, above 1 GiB and non-canonical ones do not translate")
  func untranslated() throws {
    let code = try layoutMachine()
    for address: UInt64 in [0, 0xFFF, 4 << 20, 1 << 30, 1 << 39, 0x0000_8000_0000_0000, 0xFFFF_0000_0000_0000] {
      #expect(code.physicalAddress(of: address) == nil, "0x\(String(address, radix: 16))")
    }
  }

  @Test("a page-table entry the guest rewrote is followed (the host reads what the CPU would)")
  func guestRemap() throws {
    let code = try layoutMachine()
    // PT0 entry 0x100 (linear 0x100000) now maps physical 0x180000.
    try code.memory.write(UInt64(0x18_0000 | 0x63), at: DENALI_GPA_PT0 + 0x100 * 8)
    try code.memory.write(UInt8(0xAB), at: 0x18_0010)
    #expect(code.physicalAddress(of: 0x10_0010) == 0x18_0010)
    #expect(code.byte(at: 0x10_0010) == 0xAB)
  }

  @Test("without paging a linear address is physical (low 32 bits); other paging modes are not read")
  func modes() throws {
    var code = try layoutMachine()
    var sregs = code.specialRegisters
    sregs.cr0 &= ~(1 << 31)
    code = GuestLinearMemory(memory: code.memory, specialRegisters: sregs)
    #expect(code.physicalAddress(of: 0x1_0000_2000) == 0x2000)
    sregs.cr0 |= 1 << 31
    sregs.efer &= ~(1 << 10)  // 32-bit or PAE legacy paging
    #expect(GuestLinearMemory(memory: code.memory, specialRegisters: sregs).physicalAddress(of: 0x10_0000) == nil)
  }

  @Test("a 64-bit value is read little-endian, also across pages, and not at all when part of it is unmapped")
  func uint64() throws {
    let code = try layoutMachine(size: 2 << 20)
    try code.memory.write(UInt64(0x1122_3344_5566_7788), at: 0x10_0FFC)
    #expect(code.uint64(at: 0x10_0FFC) == 0x1122_3344_5566_7788)
    #expect(code.uint64(at: 0x1F_FFFC) == nil)
  }

  @Test("bytes stop before the first byte that does not translate")
  func bytesAcrossTheEnd() throws {
    let code = try layoutMachine(size: 2 << 20)
    #expect(code.bytes(at: 0x1F_FFFC, upTo: 15).count == 4)
    #expect(code.bytes(at: 0x10_0000, upTo: 15).count == 15)
  }
}

@Suite struct GuestInstructionTests {
  @Test(
    "string port I/O is found after any prefixes",
    arguments: [[0x6F], [0xF3, 0x6F], [0x66, 0xF3, 0x6E], [0xF3, 0x48, 0x6D]])
  func stringPortIO(bytes: [UInt8]) throws {
    #expect(try #require(GuestInstruction(bytes)).isStringPortIO)
  }

  @Test("other instructions are not string port I/O", arguments: [[0xEF], [0x48, 0xEF], [0x90], [0xF3, 0xA4]])
  func notStringPortIO(bytes: [UInt8]) throws {
    #expect(try !#require(GuestInstruction(bytes)).isStringPortIO)
  }

  @Test("prefixes alone are no instruction")
  func onlyPrefixes() { #expect(GuestInstruction([0xF3, 0x66, 0x48]) == nil) }

  @Test(
    "jumps, branches, calls, returns and system calls may transfer control to themselves",
    arguments: [
      [0xEB, 0xFE], [0xE9, 0xFB, 0xFF, 0xFF, 0xFF], [0x74, 0xFE], [0x0F, 0x84, 0, 0, 0, 0], [0xE3, 0xFE],
      [0xFF, 0xE0], [0xFF, 0x2D, 0, 0, 0, 0], [0x0F, 0x05], [0x0F, 0x34], [0x48, 0xCF], [0xC3],
    ])
  func controlTransfers(bytes: [UInt8]) throws {
    #expect(try #require(GuestInstruction(bytes)).mayTransferControlToItself)
  }

  @Test(
    "descriptor loads and ordinary instructions always move RIP when they complete",
    arguments: [
      [0x8E, 0xD8], [0x0F, 0x00, 0xD8], [0x0F, 0x00, 0xD0], [0x0F, 0x01, 0x10], [0x0F, 0x01, 0xC1],
      [0xFF, 0xC0], [0x90], [0x0F, 0xA1],
    ])
  func notControlTransfers(bytes: [UInt8]) throws {
    #expect(try !#require(GuestInstruction(bytes)).mayTransferControlToItself)
  }
}

@Suite struct HypercallInstructionTests {
  /// `code` written at 0x100000 of a fresh machine.
  private func machine(with code: [UInt8]) throws -> GuestLinearMemory {
    let memory = try layoutMachine()
    try memory.memory.write(code, at: 0x10_0000)
    return memory
  }

  @Test("a completed out dx, eax (RIP just past it) is a hypercall, REX or not")
  func singleOut() throws {
    #expect(HypercallInstruction.isSingleOut(rip: 0x10_0001, code: try machine(with: [0xEF, 0x90])))
    #expect(HypercallInstruction.isSingleOut(rip: 0x10_0002, code: try machine(with: [0x48, 0xEF, 0x48, 0x31, 0xC0])))
  }

  @Test("a finished outs, an outs whose repetitions go on, and an out followed by outs are not")
  func stringOut() throws {
    #expect(!HypercallInstruction.isSingleOut(rip: 0x10_0002, code: try machine(with: [0xF3, 0x6F, 0x90])))
    #expect(!HypercallInstruction.isSingleOut(rip: 0x10_0001, code: try machine(with: [0x90, 0xF3, 0x6F])))
    #expect(!HypercallInstruction.isSingleOut(rip: 0x10_0001, code: try machine(with: [0xEF, 0xF3, 0x6F])))
    #expect(!HypercallInstruction.isSingleOut(rip: 0x10_0001, code: try machine(with: [0x6F, 0x90])))
  }

  @Test("code the host cannot read through the guest's tables is not a hypercall")
  func unreadable() throws {
    #expect(!HypercallInstruction.isSingleOut(rip: 0x1, code: try machine(with: [])))
  }
}
