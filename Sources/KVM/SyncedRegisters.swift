// SyncedRegisters.swift: the registers KVM copies into kvm_run at every exit (KVM_CAP_SYNC_REGS), read without
// an ioctl.
import CKVM

extension VCPU {
  /// Asks KVM to copy the general and special registers into `kvm_run` at every exit (check
  /// `KVMFeatures.registerSync` first). They are only read from there; writes still go through the ioctls.
  public func enableRegisterSync() {
    ckvm_run_set_valid_regs(mapping.run, CKVM_SYNC_X86_REGS | CKVM_SYNC_X86_SREGS)
  }

  /// The general registers as of the last return from `run()` (valid only after `enableRegisterSync()`).
  public func syncedRegisters() -> Registers { Registers(ckvm_run_synced_regs(mapping.run)) }

  /// The special registers as of the last return from `run()` (valid only after `enableRegisterSync()`).
  public func syncedSpecialRegisters() -> SpecialRegisters { SpecialRegisters(ckvm_run_synced_sregs(mapping.run)) }
}
