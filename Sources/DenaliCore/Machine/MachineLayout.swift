// MachineLayout.swift: the host-built part of every guest's memory (page tables, GDT, IDT, trap stubs)
// and the initial vCPU state, as Docs/ABI.md and denali/abi.h describe them.
import DenaliABI
import KVM

/// Builds the fixed low-memory structures of the Denali machine and the vCPU's first state.
public enum MachineLayout {
  /// Page-table entry flags.
  private static let present: UInt64 = 1 << 0
  private static let writable: UInt64 = 1 << 1
  /// Accessed and dirty, set in advance so the CPU never writes the tables: untouched page tables stay
  /// clean in KVM's dirty log, and a swap-out does not store them again.
  private static let accessed: UInt64 = 1 << 5
  private static let dirty: UInt64 = 1 << 6
  private static let largePage: UInt64 = 1 << 7
  private static let twoMiB: UInt64 = 2 << 20

  /// Number of exception vectors routed to the host's trap stubs.
  public static let exceptionVectors = 32
  /// Bytes per trap stub.
  static let trapStubSize: UInt64 = 16

  /// Writes page tables, GDT, IDT and trap stubs into `memory` for a guest of `memorySize` bytes (default: the
  /// memory's own size, which the ABI must allow); `memory` may be just the start of it (a memory template).
  public static func install(in memory: GuestMemory, memorySize: UInt64? = nil) throws(GuestMemoryError) {
    try installPageTables(in: memory, memorySize: memorySize ?? memory.size)
    try installGDT(in: memory)
    try installTrapStubsAndIDT(in: memory)
  }

  /// Identity map of [0, memorySize): 2 MiB pages, except the first 2 MiB in 4 KiB pages with page 0 absent.
  private static func installPageTables(in memory: GuestMemory, memorySize: UInt64) throws(GuestMemoryError) {
    let table = present | writable | accessed
    let leaf = present | writable | accessed | dirty
    try memory.write(DENALI_GPA_PDPT | table, at: DENALI_GPA_PML4)
    try memory.write(DENALI_GPA_PD | table, at: DENALI_GPA_PDPT)
    try memory.write(DENALI_GPA_PT0 | table, at: DENALI_GPA_PD)
    let largePages = memorySize / twoMiB
    if largePages > 1 {
      for index in 1..<largePages {
        try memory.write(index * twoMiB | leaf | largePage, at: DENALI_GPA_PD + index * 8)
      }
    }
    try memory.write(UInt64(0), at: DENALI_GPA_PT0)
    for index in UInt64(1)..<512 {
      try memory.write(index * 4096 | leaf, at: DENALI_GPA_PT0 + index * 8)
    }
  }

  /// Selector of the 64-bit code segment.
  static let codeSelector: UInt16 = 0x10
  /// Selector of the data segment.
  static let dataSelector: UInt16 = 0x18

  private static func installGDT(in memory: GuestMemory) throws(GuestMemoryError) {
    try memory.write(UInt64(0), at: DENALI_GPA_GDT)
    try memory.write(UInt64(0), at: DENALI_GPA_GDT + 8)
    try memory.write(UInt64(0x00AF_9A00_0000_FFFF), at: DENALI_GPA_GDT + UInt64(codeSelector))
    try memory.write(UInt64(0x00CF_9200_0000_FFFF), at: DENALI_GPA_GDT + UInt64(dataSelector))
  }

  /// Each stub: mov eax, vector ; mov dx, DENALI_PORT_TRAP ; out dx, eax ; hlt ; jmp back to hlt.
  static func trapStub(vector: UInt8) -> [UInt8] {
    let port = UInt16(DENALI_PORT_TRAP)
    var stub: [UInt8] = [
      0xB8, vector, 0, 0, 0, 0x66, 0xBA, UInt8(port & 0xFF), UInt8(port >> 8), 0xEF, 0xF4, 0xEB, 0xFD,
    ]
    stub += Array(repeating: 0xF4, count: Int(trapStubSize) - stub.count)
    return stub
  }

  /// True when `rip` lies in the host's trap stubs: only they report exceptions on the trap port.
  public static func isTrapStub(_ rip: UInt64) -> Bool {
    rip >= DENALI_GPA_TRAP_STUBS && rip < DENALI_GPA_TRAP_STUBS + UInt64(exceptionVectors) * trapStubSize
  }

  private static func installTrapStubsAndIDT(in memory: GuestMemory) throws(GuestMemoryError) {
    for vector in 0..<exceptionVectors {
      let handler = DENALI_GPA_TRAP_STUBS + UInt64(vector) * trapStubSize
      try memory.write(trapStub(vector: UInt8(vector)), at: handler)
      // A 64-bit interrupt gate: offset split in three, selector, present DPL0 type 0xE.
      let low = (handler & 0xFFFF) | UInt64(codeSelector) << 16 | UInt64(0x8E) << 40 | (handler >> 16 & 0xFFFF) << 48
      let entry = DENALI_GPA_IDT + UInt64(vector) * 16
      try memory.write(low, at: entry)
      try memory.write(handler >> 32, at: entry + 8)
    }
  }

  /// The special registers of a vCPU entering 64-bit long mode on this layout.
  public static func longModeSpecialRegisters(from initial: SpecialRegisters) -> SpecialRegisters {
    var sregs = initial
    var code = SegmentRegister()
    code.base = 0
    code.limit = 0xFFFF_FFFF
    code.selector = codeSelector
    code.type = 11
    code.present = true
    code.s = true
    code.l = true
    code.g = true
    sregs.cs = code
    var data = SegmentRegister()
    data.limit = 0xFFFF_FFFF
    data.selector = dataSelector
    data.type = 3
    data.present = true
    data.s = true
    data.db = true
    data.g = true
    sregs.ds = data
    sregs.es = data
    sregs.fs = data
    sregs.gs = data
    sregs.ss = data
    var task = SegmentRegister()
    task.limit = 0x67
    task.type = 11
    task.present = true
    sregs.tr = task
    var ldt = SegmentRegister()
    ldt.unusable = true
    sregs.ldt = ldt
    sregs.gdt = DescriptorTableRegister(base: DENALI_GPA_GDT, limit: 4 * 8 - 1)
    sregs.idt = DescriptorTableRegister(base: DENALI_GPA_IDT, limit: UInt16(exceptionVectors * 16 - 1))
    sregs.cr0 = 0x8005_0033  // PE MP ET NE WP AM PG
    sregs.cr3 = DENALI_GPA_PML4
    sregs.cr4 = 0x20  // PAE
    sregs.efer = 0xD01  // SCE LME LMA NXE
    return sregs
  }

  /// The general-purpose registers at the guest's first instruction.
  public static func initialRegisters(entry: UInt64, memorySize: UInt64) -> Registers {
    var regs = Registers()
    regs.rip = entry
    regs.rsp = memorySize
    regs.rdi = DENALI_GPA_BOOT_INFO
    regs.rflags = 0x2
    return regs
  }
}
