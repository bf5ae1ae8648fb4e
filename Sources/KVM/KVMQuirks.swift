// KVMQuirks.swift: KVM behaviours kept for old guests that a VM may turn off (KVM_CAP_DISABLE_QUIRKS2).
import CKVM
import Glibc

/// KVM quirks, as the bits of `KVM_CAP_DISABLE_QUIRKS2`.
public struct KVMQuirks: OptionSet, Sendable, Hashable {
  /// The bits.
  public let rawValue: UInt64

  /// A set from its bits.
  public init(rawValue: UInt64) { self.rawValue = rawValue }

  /// When KVM's instruction emulator meets `vmcall` or `vmmcall`, it rewrites the guest's instruction bytes
  /// into the host vendor's hypercall instruction and runs it again. Disabled, the instruction raises #UD.
  public static let fixHypercallInstruction = KVMQuirks(rawValue: UInt64(KVM_X86_QUIRK_FIX_HYPERCALL_INSN))
}

extension VirtualMachine {
  /// Turns off `quirks` for this VM (they must be in `KVMFeatures.disablableQuirks`).
  public func disableQuirks(_ quirks: KVMQuirks) throws(KVMError) {
    guard ckvm_disable_quirks(fd, quirks.rawValue) == 0 else { throw KVMError.last("KVM_ENABLE_CAP(DISABLE_QUIRKS2)") }
  }
}
