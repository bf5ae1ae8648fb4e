// CPU.swift: raw x86-64 instructions a guest may need (and the fault guest uses to misbehave on purpose).

/// Privileged and faulting CPU instructions, executed as written with no checks.
public enum CPU {
  /// Halts the vCPU; with interrupts off the host sees a halt exit.
  public static func halt() { ilwaco_cpu_halt() }

  /// Executes `ud2` (raises #UD, vector 6).
  public static func undefinedInstruction() { ilwaco_cpu_ud2() }

  /// Executes `int3` (raises #BP, vector 3).
  public static func breakpoint() { ilwaco_cpu_int3() }

  /// Executes `wrmsr` (an unknown MSR raises #GP, vector 13).
  public static func writeMSR(_ msr: UInt32, _ value: UInt64) { ilwaco_cpu_wrmsr(msr, value) }

  /// Executes `lidt` with the given IDT base and limit.
  public static func loadIDT(base: UInt64, limit: UInt16) { ilwaco_cpu_lidt(base, limit) }

  /// Executes an unchecked `div` (a zero divisor raises #DE, vector 0).
  public static func divide(_ dividend: UInt64, by divisor: UInt64) -> UInt64 {
    ilwaco_cpu_div(dividend, divisor)
  }

  /// Stores a 64-bit value at a raw guest address (an unmapped address raises #PF, vector 14).
  public static func store(_ value: UInt64, at address: UInt64) { ilwaco_cpu_store64(address, value) }
}

extension CPU {
  /// Executes `rdmsr` (an unknown MSR raises #GP, vector 13).
  public static func readMSR(_ msr: UInt32) -> UInt64 { ilwaco_cpu_rdmsr(msr) }

  /// Writes CR3 back to itself, flushing the TLB so that edits to the page tables take effect.
  public static func reloadPageTables() { ilwaco_cpu_write_cr3(ilwaco_cpu_read_cr3()) }

  /// Loads a 64-bit value from a raw guest address (an unmapped address raises #PF, vector 14).
  public static func load(at address: UInt64) -> UInt64 { ilwaco_cpu_load64(address) }

  /// One 1-byte `out` of `value` to `port`.
  public static func out8(port: UInt16, _ value: UInt8) { ilwaco_cpu_out8(port, value) }

  /// One 2-byte `out` of `value` to `port`.
  public static func out16(port: UInt16, _ value: UInt16) { ilwaco_cpu_out16(port, value) }

  /// One 4-byte `out` of `value` to `port` (on a hypercall port, `value` is the struct address).
  public static func out32(port: UInt16, _ value: UInt32) { ilwaco_cpu_out32(port, value) }

  /// One 4-byte `in` from `port`.
  public static func in32(port: UInt16) -> UInt32 { ilwaco_cpu_in32(port) }

  /// Executes `xorps xmm0, xmm0` (SSE, which guests must not use: CR4.OSFXSR is clear, so #UD, or an
  /// emulation failure under KVM's instruction emulator). The bytes are called in .rodata, so the build's
  /// no-SSE check (which disassembles executable sections only) still passes.
  public static func sseXorps() { ilwaco_cpu_sse_xorps() }
}

extension CPU {
  /// Executes Intel's `vmcall`, which is not a Denali hypercall.
  public static func vmcall() { ilwaco_cpu_vmcall() }

  /// Executes AMD's `vmmcall`, which is not a Denali hypercall.
  public static func vmmcall() { ilwaco_cpu_vmmcall() }

  /// Executes `lgdt` with its 10-byte operand read from raw guest address `operand`.
  public static func loadGDT(operandAt operand: UInt64) { ilwaco_cpu_lgdt_from(operand) }

  /// Executes `lidt` with its 10-byte operand read from raw guest address `operand`.
  public static func loadIDT(operandAt operand: UInt64) { ilwaco_cpu_lidt_from(operand) }

  /// Executes `lgdt` with the given GDT base and limit.
  public static func loadGDT(base: UInt64, limit: UInt16) { ilwaco_cpu_lgdt(base, limit) }

  /// Loads DS with `selector`, which reads its descriptor from the GDT.
  public static func loadDS(_ selector: UInt16) { ilwaco_cpu_load_ds(selector) }

  /// Executes `ltr`, which reads the TSS descriptor `selector` from the GDT.
  public static func loadTaskRegister(_ selector: UInt16) { ilwaco_cpu_ltr(selector) }

  /// Executes `lldt`, which reads the LDT descriptor `selector` from the GDT.
  public static func loadLDT(_ selector: UInt16) { ilwaco_cpu_lldt(selector) }

  /// `rep outsl`: `count` 4-byte OUTs to `port` of the 32-bit words at `data`.
  public static func repeatOut32(port: UInt16, _ data: UnsafeRawPointer, count: UInt64) {
    ilwaco_cpu_rep_outs32(port, data, count)
  }

  /// `outsl`: one 4-byte OUT to `port` of the 32-bit word at `data`, a string instruction without `rep`.
  public static func stringOut32(port: UInt16, _ data: UnsafeRawPointer) { ilwaco_cpu_outs32(port, data) }

  /// `rep insl`: `count` 4-byte INs from `port` into `data`.
  public static func repeatIn32(port: UInt16, _ data: UnsafeMutableRawPointer, count: UInt64) {
    ilwaco_cpu_rep_ins32(port, data, count)
  }

  /// A 4-byte `out` of `value` to `port` directly followed by `rep outsl` of `count` words at `data`.
  public static func out32ThenRepeatOut32(port: UInt16, _ value: UInt32, _ data: UnsafeRawPointer, count: UInt64) {
    ilwaco_cpu_out32_then_rep_outs32(port, value, data, count)
  }

  /// Reads the time-stamp counter.
  public static func timeStampCounter() -> UInt64 { ilwaco_cpu_rdtsc() }

  /// Jumps to itself forever: no register ever changes, yet every instruction completes.
  public static func jumpToSelf() -> Never { ilwaco_cpu_jump_to_self() }

  /// Loads DS with `selector` in a loop forever (two instructions, both completing every time).
  public static func loadDSForever(_ selector: UInt16) -> Never { ilwaco_cpu_load_ds_forever(selector) }

  /// Reads debug register DR`index` (0-3, 6 or 7).
  public static func debugRegister(_ index: UInt32) -> UInt64 { ilwaco_cpu_read_dr(index) }

  /// Writes debug register DR`index` (0-3, 6 or 7).
  public static func setDebugRegister(_ index: UInt32, _ value: UInt64) { ilwaco_cpu_write_dr(index, value) }

  /// Reads MSR `msr`; nil when the CPU refuses it (#GP), which this call survives.
  public static func tryReadMSR(_ msr: UInt32) -> UInt64? {
    var value: UInt64 = 0
    return ilwaco_cpu_try_rdmsr(msr, &value) == 0 ? value : nil
  }

  /// Writes MSR `msr`; false when the CPU refuses it (#GP), which this call survives.
  public static func tryWriteMSR(_ msr: UInt32, _ value: UInt64) -> Bool { ilwaco_cpu_try_wrmsr(msr, value) == 0 }
}
