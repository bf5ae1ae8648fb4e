// DebugRegisters.swift: a vCPU's debug registers DR0-DR3, DR6 and DR7 (KVM_GET/SET_DEBUGREGS).
import CKVM

/// The debug registers of a vCPU, which a guest at CPL 0 may write with `mov drN`.
public struct DebugRegisters: Equatable, Sendable {
  /// DR0-DR3: breakpoint linear addresses.
  public var breakpoints: [UInt64]
  /// DR6: debug status.
  public var status: UInt64
  /// DR7: debug control.
  public var control: UInt64

  /// Registers with the given values (`breakpoints` must hold four addresses; missing ones read 0).
  public init(breakpoints: [UInt64], status: UInt64, control: UInt64) {
    self.breakpoints = Array((breakpoints + [0, 0, 0, 0]).prefix(4))
    self.status = status
    self.control = control
  }

  init(_ raw: kvm_debugregs) {
    self.init(breakpoints: [raw.db.0, raw.db.1, raw.db.2, raw.db.3], status: raw.dr6, control: raw.dr7)
  }

  var raw: kvm_debugregs {
    var raw = kvm_debugregs()
    raw.db = (breakpoints[0], breakpoints[1], breakpoints[2], breakpoints[3])
    raw.dr6 = status
    raw.dr7 = control
    return raw
  }
}

extension VCPU {
  /// Reads DR0-DR3, DR6 and DR7.
  public func debugRegisters() throws(KVMError) -> DebugRegisters {
    DebugRegisters(try read(kvm_debugregs(), CKVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS"))
  }

  /// Writes DR0-DR3, DR6 and DR7 (KVM refuses reserved bits set in DR6 or DR7).
  public func setDebugRegisters(_ registers: DebugRegisters) throws(KVMError) {
    try write(registers.raw, CKVM_SET_DEBUGREGS, "KVM_SET_DEBUGREGS")
  }
}
