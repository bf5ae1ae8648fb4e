// MachineLayoutTests.swift: the host-built page tables, GDT, IDT and trap stubs, and the initial vCPU state.
import CKVM
import DenaliABI
import Testing

@testable import DenaliCore
@testable import KVM

/// Leaf entries: present, writable, and accessed and dirty set in advance (the CPU never writes the tables).
private let presentWritable: UInt64 = 0x63
private let largePage: UInt64 = 0x80
private let twoMiB: UInt64 = 2 << 20

/// A fresh memory of `size` bytes with the machine layout installed.
private func installedMemory(size: UInt64) throws -> GuestMemory {
  let memory = try GuestMemory(size: size)
  try MachineLayout.install(in: memory)
  return memory
}

@Suite struct MachineLayoutTests {
  @Test(arguments: [UInt64(2 << 20), 4 << 20, 64 << 20, 1 << 30])
  func upperTablesChainWithPresentWritable(size: UInt64) throws {
    let memory = try installedMemory(size: size)
    #expect(try memory.read(UInt64.self, at: DENALI_GPA_PML4) == 0x2023, "present, writable, accessed")
    #expect(try memory.read(UInt64.self, at: DENALI_GPA_PDPT) == 0x3023)
    #expect(try memory.read(UInt64.self, at: DENALI_GPA_PD) == 0x4023)
    // Only one PML4 and one PDPT entry: everything above 1 GiB is unmapped.
    for index in UInt64(1)..<512 {
      #expect(try memory.read(UInt64.self, at: DENALI_GPA_PML4 + index * 8) == 0)
      #expect(try memory.read(UInt64.self, at: DENALI_GPA_PDPT + index * 8) == 0)
    }
  }

  @Test(arguments: [UInt64(2 << 20), 4 << 20, 64 << 20, 1 << 30])
  func largePagesCoverExactlyTheMemory(size: UInt64) throws {
    let memory = try installedMemory(size: size)
    let pages = size / twoMiB
    for index in UInt64(1)..<max(pages, 1) {
      let entry = try memory.read(UInt64.self, at: DENALI_GPA_PD + index * 8)
      #expect(entry == index * twoMiB | largePage | presentWritable, "PD[\(index)]")
    }
    if pages < 512 {
      for index in pages..<512 {
        #expect(try memory.read(UInt64.self, at: DENALI_GPA_PD + index * 8) == 0, "PD[\(index)]")
      }
    }
  }

  @Test func fourMiBHasOneLargePage() throws {
    let memory = try installedMemory(size: 4 << 20)
    #expect(try memory.read(UInt64.self, at: DENALI_GPA_PD + 8) == 0x20_00E3)
    #expect(try memory.read(UInt64.self, at: DENALI_GPA_PD + 16) == 0)
  }

  @Test func sixtyFourMiBEndsAtPD31() throws {
    let memory = try installedMemory(size: 64 << 20)
    #expect(try memory.read(UInt64.self, at: DENALI_GPA_PD + 31 * 8) == 0x3E0_00E3)
    #expect(try memory.read(UInt64.self, at: DENALI_GPA_PD + 32 * 8) == 0)
  }

  @Test(arguments: [UInt64(2 << 20), 4 << 20, 64 << 20])
  func firstTwoMiBUse4KiBPagesWithNullPageAbsent(size: UInt64) throws {
    let memory = try installedMemory(size: size)
    #expect(try memory.read(UInt64.self, at: DENALI_GPA_PT0) == 0)
    #expect(try memory.read(UInt64.self, at: DENALI_GPA_PT0 + 8) == 0x1063)
    #expect(try memory.read(UInt64.self, at: DENALI_GPA_PT0 + 0x100 * 8) == 0x10_0063)
    for index in UInt64(1)..<512 {
      #expect(try memory.read(UInt64.self, at: DENALI_GPA_PT0 + index * 8) == index << 12 | presentWritable)
    }
  }

  @Test func nullPageAndUnusedPagesStayZero() throws {
    let memory = try installedMemory(size: 4 << 20)
    #expect(try memory.bytes(at: 0, count: 0x1000).allSatisfy { $0 == 0 })
    // The boot info and vregs pages are not written by the layout.
    #expect(try memory.bytes(at: DENALI_GPA_BOOT_INFO, count: 0x2000).allSatisfy { $0 == 0 })
    #expect(try memory.bytes(at: DENALI_GPA_IMAGE_BASE, count: 0x1000).allSatisfy { $0 == 0 })
  }

  @Test func gdtHasNullUnusedCodeAndData() throws {
    let memory = try installedMemory(size: 4 << 20)
    #expect(try memory.read(UInt64.self, at: DENALI_GPA_GDT) == 0)
    #expect(try memory.read(UInt64.self, at: DENALI_GPA_GDT + 8) == 0)
    let code = try memory.read(UInt64.self, at: DENALI_GPA_GDT + 0x10)
    let data = try memory.read(UInt64.self, at: DENALI_GPA_GDT + 0x18)
    #expect(code == 0x00AF_9A00_0000_FFFF)
    #expect(data == 0x00CF_9200_0000_FFFF)
    // Code: present, DPL 0, code segment, execute/read, long mode (L=1, D=0).
    #expect(code >> 47 & 1 == 1)
    #expect(code >> 45 & 3 == 0)
    #expect(code >> 40 & 0xF == 0xA)
    #expect(code >> 53 & 1 == 1)
    #expect(code >> 54 & 1 == 0)
    // Data: present, read/write.
    #expect(data >> 47 & 1 == 1)
    #expect(data >> 40 & 0xF == 0x2)
  }

  @Test(arguments: 0..<32)
  func idtGatePointsAtTrapStub(vector: Int) throws {
    let memory = try installedMemory(size: 4 << 20)
    let entry = DENALI_GPA_IDT + UInt64(vector) * 16
    let low = try memory.read(UInt64.self, at: entry)
    let high = try memory.read(UInt64.self, at: entry + 8)
    let handler = DENALI_GPA_TRAP_STUBS + UInt64(vector) * 16
    let offset = (low & 0xFFFF) | (low >> 48 & 0xFFFF) << 16 | (high & 0xFFFF_FFFF) << 32
    #expect(offset == handler)
    #expect(low >> 16 & 0xFFFF == 0x10)  // selector
    #expect(low >> 32 & 0x7 == 0)  // IST
    #expect(low >> 40 & 0xFF == 0x8E)  // present, DPL 0, 64-bit interrupt gate
    #expect(high >> 32 == 0)  // reserved
  }

  @Test func pageFaultGateExactValue() throws {
    let memory = try installedMemory(size: 4 << 20)
    let entry = DENALI_GPA_IDT + 14 * 16
    #expect(DENALI_GPA_TRAP_STUBS + 14 * 16 == 0x70E0)
    #expect(try memory.read(UInt64.self, at: entry) == 0x0000_8E00_0010_70E0)
    #expect(try memory.read(UInt64.self, at: entry + 8) == 0)
    // Nothing beyond the 32 gates.
    #expect(try memory.bytes(at: DENALI_GPA_IDT + 32 * 16, count: 16).allSatisfy { $0 == 0 })
  }

  @Test(arguments: [UInt8(0), 6, 14, 31])
  func trapStubEncodesVectorPortOutAndHlt(vector: UInt8) throws {
    let memory = try installedMemory(size: 4 << 20)
    let stub = try memory.bytes(at: DENALI_GPA_TRAP_STUBS + UInt64(vector) * 16, count: 16)
    // mov eax, vector
    #expect(Array(stub[0..<5]) == [0xB8, vector, 0, 0, 0])
    // mov dx, 0x5ff
    #expect(Array(stub[5..<9]) == [0x66, 0xBA, 0xFF, 0x05])
    // out dx, eax ; hlt
    #expect(Array(stub[9..<11]) == [0xEF, 0xF4])
    #expect(stub == MachineLayout.trapStub(vector: vector))
    #expect(stub.count == 16)
  }

  @Test func trapStubsAreTheOnlyCodeInTheStubPage() throws {
    let memory = try installedMemory(size: 4 << 20)
    #expect(try memory.bytes(at: DENALI_GPA_TRAP_STUBS + 32 * 16, count: 0x1000 - 32 * 16).allSatisfy { $0 == 0 })
  }

  @Test func longModeSpecialRegisters() throws {
    let sregs = MachineLayout.longModeSpecialRegisters(from: SpecialRegisters(kvm_sregs()))
    #expect(sregs.cr0 == 0x8005_0033)
    #expect(sregs.cr0 & 1 == 1)  // PE
    #expect(sregs.cr0 >> 31 == 1)  // PG
    #expect(sregs.cr3 == DENALI_GPA_PML4)
    #expect(sregs.cr4 == 0x20)
    #expect(sregs.efer == 0xD01)
    #expect(sregs.efer & 0x500 == 0x500)  // LME and LMA
    #expect(sregs.cs.selector == 0x10)
    #expect(sregs.cs.l)
    #expect(!sregs.cs.db)
    #expect(sregs.cs.present)
    #expect(sregs.cs.s)
    #expect(sregs.cs.type == 11)
    #expect(sregs.cs.dpl == 0)
    for segment in [sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss] {
      #expect(segment.selector == 0x18)
      #expect(segment.present)
      #expect(segment.type == 3)
      #expect(!segment.unusable)
    }
    #expect(sregs.tr.present)
    #expect(sregs.ldt.unusable)
    #expect(sregs.gdt == DescriptorTableRegister(base: DENALI_GPA_GDT, limit: 31))
    #expect(sregs.idt == DescriptorTableRegister(base: DENALI_GPA_IDT, limit: 32 * 16 - 1))
  }

  @Test func longModeSpecialRegistersKeepOtherFields() throws {
    var raw = kvm_sregs()
    raw.cr2 = 0xABC
    raw.apic_base = 0xFEE0_0900
    let sregs = MachineLayout.longModeSpecialRegisters(from: SpecialRegisters(raw))
    #expect(sregs.cr2 == 0xABC)
    #expect(sregs.raw.apic_base == 0xFEE0_0900)
  }

  @Test func initialRegisters() {
    let regs = MachineLayout.initialRegisters(entry: 0x10_1234, memorySize: 64 << 20)
    #expect(regs.rip == 0x10_1234)
    #expect(regs.rsp == 64 << 20)
    #expect(regs.rsp % 16 == 0)
    #expect(regs.rdi == DENALI_GPA_BOOT_INFO)
    #expect(regs.rflags == 0x2)
    #expect(regs.rax == 0 && regs.rsi == 0 && regs.rbp == 0)
  }
}
