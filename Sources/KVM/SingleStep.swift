// SingleStep.swift: KVM's single-stepping of a guest for the host (KVM_SET_GUEST_DEBUG), which ends KVM_RUN
// with a debug exit after each completed guest instruction.
import CKVM

extension VCPU {
  /// Turns single-stepping on or off. While it is on, `run()` returns `.debug` after each guest instruction
  /// completes (the guest's own view of RFLAGS.TF is not changed).
  public func setSingleStep(_ enabled: Bool) throws(KVMError) {
    guard ckvm_set_single_step(fd, enabled ? 1 : 0) == 0 else { throw KVMError.last("KVM_SET_GUEST_DEBUG") }
  }
}
