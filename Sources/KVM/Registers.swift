// Registers.swift: a vCPU's general-purpose registers, instruction pointer and flags.
import CKVM

/// The general-purpose registers, RIP and RFLAGS of a vCPU (`struct kvm_regs`).
public struct Registers: Equatable, Sendable {
  /// General-purpose registers.
  public var rax: UInt64 = 0, rbx: UInt64 = 0, rcx: UInt64 = 0, rdx: UInt64 = 0
  /// General-purpose registers.
  public var rsi: UInt64 = 0, rdi: UInt64 = 0, rsp: UInt64 = 0, rbp: UInt64 = 0
  /// General-purpose registers.
  public var r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0, r11: UInt64 = 0
  /// General-purpose registers.
  public var r12: UInt64 = 0, r13: UInt64 = 0, r14: UInt64 = 0, r15: UInt64 = 0
  /// Instruction pointer.
  public var rip: UInt64 = 0
  /// Flags register; bit 1 is always set.
  public var rflags: UInt64 = 0x2

  /// All-zero registers with RFLAGS = 0x2.
  public init() {}

  init(_ r: kvm_regs) {
    rax = r.rax
    rbx = r.rbx
    rcx = r.rcx
    rdx = r.rdx
    rsi = r.rsi
    rdi = r.rdi
    rsp = r.rsp
    rbp = r.rbp
    r8 = r.r8
    r9 = r.r9
    r10 = r.r10
    r11 = r.r11
    r12 = r.r12
    r13 = r.r13
    r14 = r.r14
    r15 = r.r15
    rip = r.rip
    rflags = r.rflags
  }

  var kvm: kvm_regs {
    var r = kvm_regs()
    r.rax = rax
    r.rbx = rbx
    r.rcx = rcx
    r.rdx = rdx
    r.rsi = rsi
    r.rdi = rdi
    r.rsp = rsp
    r.rbp = rbp
    r.r8 = r8
    r.r9 = r9
    r.r10 = r10
    r.r11 = r11
    r.r12 = r12
    r.r13 = r13
    r.r14 = r14
    r.r15 = r15
    r.rip = rip
    r.rflags = rflags
    return r
  }
}
