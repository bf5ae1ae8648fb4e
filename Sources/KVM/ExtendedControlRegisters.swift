// ExtendedControlRegisters.swift: a vCPU's extended control registers, XCR0 and friends (KVM_GET/SET_XCRS).
import CKVM

/// The extended control registers KVM reports for a vCPU (none when the guest has no XSAVE).
public struct ExtendedControlRegisters: Equatable, Sendable {
  /// The most registers KVM handles (`KVM_MAX_XCRS`).
  public static let maximumCount = Int(KVM_MAX_XCRS)
  /// The registers (the XCR number as `index`: 0 for XCR0), at most `maximumCount`.
  public var registers: [NumberedRegister]

  /// A set of registers (anything past `maximumCount` is dropped).
  public init(registers: [NumberedRegister]) { self.registers = Array(registers.prefix(Self.maximumCount)) }

  init(_ raw: kvm_xcrs) {
    var raw = raw
    let count = min(Int(raw.nr_xcrs), Self.maximumCount)
    let registers = withUnsafeBytes(of: &raw.xcrs) { bytes in
      // SAFETY: xcrs is a fixed array of KVM_MAX_XCRS kvm_xcr; count is at most that.
      (0..<count).map { index in
        let xcr = bytes.loadUnaligned(fromByteOffset: index * MemoryLayout<kvm_xcr>.stride, as: kvm_xcr.self)
        return NumberedRegister(index: xcr.xcr, value: xcr.value)
      }
    }
    self.init(registers: registers)
  }

  var raw: kvm_xcrs {
    var raw = kvm_xcrs()
    raw.nr_xcrs = UInt32(registers.count)
    withUnsafeMutableBytes(of: &raw.xcrs) { bytes in
      for (index, register) in registers.enumerated() {
        var xcr = kvm_xcr()
        xcr.xcr = register.index
        xcr.value = register.value
        // SAFETY: index < KVM_MAX_XCRS (registers holds at most maximumCount), inside the fixed array.
        bytes.storeBytes(of: xcr, toByteOffset: index * MemoryLayout<kvm_xcr>.stride, as: kvm_xcr.self)
      }
    }
    return raw
  }
}

extension VCPU {
  /// Reads the extended control registers.
  public func extendedControlRegisters() throws(KVMError) -> ExtendedControlRegisters {
    ExtendedControlRegisters(try read(kvm_xcrs(), CKVM_GET_XCRS, "KVM_GET_XCRS"))
  }

  /// Writes the extended control registers (KVM refuses values the guest's CPUID does not allow).
  public func setExtendedControlRegisters(_ registers: ExtendedControlRegisters) throws(KVMError) {
    try write(registers.raw, CKVM_SET_XCRS, "KVM_SET_XCRS")
  }
}
