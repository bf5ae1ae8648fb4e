// KVMClock.swift: a VM's KVM clock (KVM_GET/SET_CLOCK), the time base of the paravirtual clock a guest can turn
// on with MSR_KVM_SYSTEM_TIME_NEW. A new VM's clock starts near zero, so a VM rebuilt from a saved state must
// have it set, or the guest's paravirtual time goes back.
import CKVM

extension VirtualMachine {
  /// The VM's KVM clock, nanoseconds (the VM descriptor must still be open).
  public func kvmClock() throws(KVMError) -> UInt64 {
    var data = kvm_clock_data()
    // SAFETY: `data` is a valid kvm_clock_data on the stack that the ioctl fills.
    guard ckvm_ioctl_pointer(fd, CKVM_GET_CLOCK, &data) == 0 else { throw KVMError.last("KVM_GET_CLOCK") }
    return data.clock
  }

  /// Sets the VM's KVM clock to `nanoseconds` as of now (the VM descriptor must still be open).
  public func setKVMClock(_ nanoseconds: UInt64) throws(KVMError) {
    var data = kvm_clock_data()
    data.clock = nanoseconds
    // SAFETY: `data` is a valid kvm_clock_data on the stack that the ioctl reads.
    guard ckvm_ioctl_pointer(fd, CKVM_SET_CLOCK, &data) == 0 else { throw KVMError.last("KVM_SET_CLOCK") }
  }
}
