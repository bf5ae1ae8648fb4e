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
