// VCPUEvents.swift: a vCPU's pending and in-flight events (KVM_GET/SET_VCPU_EVENTS): a queued or injected
// exception, NMI state, the interrupt shadow after `mov ss`/`sti`, SMM state.
import CKVM

/// The events of a vCPU that are in no register: what KVM is about to deliver and what the CPU is blocking.
/// Kept as KVM's own structure (`struct kvm_vcpu_events`, 64 bytes).
public struct VCPUEvents: Sendable {
  /// KVM's structure.
  public var raw: kvm_vcpu_events

  /// Wraps KVM's structure.
  public init(raw: kvm_vcpu_events) { self.raw = raw }

  /// True when an exception is queued or being injected (it would be lost if the vCPU were rebuilt without it).
  public var hasPendingException: Bool { raw.exception.injected != 0 || raw.exception.pending != 0 }

  /// True while the instruction after `mov ss` or `sti` runs with interrupts and debug traps held off.
  public var hasInterruptShadow: Bool { raw.interrupt.shadow != 0 }
}

extension VCPU {
  /// Reads the pending events.
  public func events() throws(KVMError) -> VCPUEvents {
    VCPUEvents(raw: try read(kvm_vcpu_events(), CKVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS"))
  }

  /// Writes the pending events (KVM validates them: a bad vector or flag is refused).
  public func setEvents(_ events: VCPUEvents) throws(KVMError) {
    try write(events.raw, CKVM_SET_VCPU_EVENTS, "KVM_SET_VCPU_EVENTS")
  }
}
