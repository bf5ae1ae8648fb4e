// KVMFeatures.swift: the optional KVM capabilities the wrapper uses, checked once when /dev/kvm is opened.
import CKVM
import Glibc

/// What this KVM offers beyond API version 12 that the vCPU wrapper uses (each from `KVM_CHECK_EXTENSION`).
public struct KVMFeatures: Sendable, Equatable {
  /// `KVM_GET/SET_DEBUGREGS` (DR0-3, DR6, DR7).
  public var debugRegisters: Bool
  /// `KVM_GET/SET_XCRS` (XCR0 and friends).
  public var extendedControlRegisters: Bool
  /// `KVM_GET/SET_VCPU_EVENTS` (pending exceptions, NMI, interrupt shadow).
  public var vcpuEvents: Bool
  /// `KVM_CAP_SYNC_REGS` covering the general and special registers: KVM copies them into `kvm_run` at every
  /// exit, so reading them costs no ioctl.
  public var registerSync: Bool
  /// The quirks `KVM_CAP_DISABLE_QUIRKS2` can turn off.
  public var disablableQuirks: KVMQuirks
  /// True unless KVM is known to map guest memory with two-dimensional paging (Intel EPT, AMD NPT): then KVM
  /// shadows the guest's own page tables, and those shadows outlive a change the host makes to the pages behind
  /// them (KVM sees only guest writes), so a VM reused for another guest must have them dropped.
  public var shadowsGuestPageTables: Bool

  /// Asks the KVM device `fd`.
  init(kvmFD fd: Int32) {
    func check(_ capability: Int32) -> Int32 { max(0, ckvm_ioctl_value(fd, CKVM_CHECK_EXTENSION, UInt(capability))) }
    debugRegisters = check(KVM_CAP_DEBUGREGS) > 0
    extendedControlRegisters = check(KVM_CAP_XCRS) > 0
    vcpuEvents = check(KVM_CAP_VCPU_EVENTS) > 0
    let syncFields = UInt64(check(KVM_CAP_SYNC_REGS))
    let wanted = CKVM_SYNC_X86_REGS | CKVM_SYNC_X86_SREGS
    registerSync = syncFields & wanted == wanted
    disablableQuirks = KVMQuirks(rawValue: UInt64(check(KVM_CAP_DISABLE_QUIRKS2)))
    shadowsGuestPageTables = !Self.twoDimensionalPaging()
  }

  /// True when the loaded vendor module says it uses EPT or NPT (`/sys/module/kvm_intel/parameters/ept`,
  /// `/sys/module/kvm_amd/parameters/npt`); false when neither says so (another backend, or unreadable).
  static func twoDimensionalPaging() -> Bool {
    for path in ["/sys/module/kvm_intel/parameters/ept", "/sys/module/kvm_amd/parameters/npt"] {
      let fd = open(path, O_RDONLY | O_CLOEXEC)
      guard fd >= 0 else { continue }
      defer { close(fd) }
      var byte: UInt8 = 0
      if read(fd, &byte, 1) == 1, byte == UInt8(ascii: "Y") || byte == UInt8(ascii: "1") { return true }
    }
    return false
  }
}
