// SavedMSRList.swift: which model-specific registers a saved vCPU carries, found once per /dev/kvm.
import CKVM
import Glibc

/// The MSRs a saved vCPU carries: every MSR KVM lists for save and restore (`KVM_GET_MSR_INDEX_LIST`), its
/// feature MSRs (`KVM_GET_MSR_FEATURE_INDEX_LIST`), and the architectural MSRs KVM lets a guest write without
/// listing them (MTRRs, machine-check banks, ...), each kept only if KVM reads it on a fresh vCPU. EFER, FS and
/// GS base and the APIC base are not here: the special registers carry them. The time-stamp counter comes last,
/// so that restoring it is the final MSR write.
public struct SavedMSRList: Sendable, Equatable {
  /// The most MSRs a list (and so a decoded saved state) may hold.
  public static let maximumCount = 1024
  /// IA32_TIME_STAMP_COUNTER.
  public static let timeStampCounter: UInt32 = 0x10

  /// The MSR numbers, the time-stamp counter last when present.
  public let indices: [UInt32]
  private let members: Set<UInt32>

  /// A list of exactly `indices` (duplicates and anything past `maximumCount` dropped, the TSC moved last).
  public init(indices: [UInt32]) {
    var seen = Set<UInt32>()
    let hasTSC = indices.contains(Self.timeStampCounter)
    var ordered = Array(
      indices.filter { $0 != Self.timeStampCounter && seen.insert($0).inserted }.prefix(
        Self.maximumCount - (hasTSC ? 1 : 0)))
    if hasTSC { ordered.append(Self.timeStampCounter) }
    self.indices = ordered
    members = Set(ordered)
  }

  /// True when `index` is on the list.
  public func contains(_ index: UInt32) -> Bool { members.contains(index) }

  /// MSRs guests can change that KVM emulates but does not put in its index list: the MTRRs (default type,
  /// eight variable pairs, the fixed ranges), the machine-check banks (status and control of 32 banks, which a
  /// guest may write after setting HWCR.McStatusWrEn), and MSRs that exist only with CPU features a VM may be
  /// given (speculation control, TSC_AUX, XSS, XFD, PMU counters, CET, feature control).
  public static let unlistedCandidates: [UInt32] =
    [0x2ff] + Array(0x200...0x20f) + [0x250, 0x258, 0x259] + Array(0x268...0x26f)
    + [0x179] + Array(0x400...0x47f) + Array(0x280...0x29f) + [0x4d0]
    + [0x3a, 0x48, 0x122, 0xc000_0103, 0xda0, 0xd90, 0xe1, 0x1c4, 0x1c5, 0x6e1]
    + Array(0x6a0...0x6a8) + Array(0xc1...0xc8) + Array(0x186...0x18d) + Array(0x309...0x30b) + Array(0x38d...0x390)
    + Array(0xc001_0000...0xc001_0007) + Array(0xc001_0200...0xc001_020b)
    + [0xc001_0140, 0xc001_0141, 0xc001_0114, 0xc001_1029]

  /// MSRs the special registers carry, never listed here.
  static let carriedBySpecialRegisters: Set<UInt32> = [0xc000_0080, 0xc000_0100, 0xc000_0101, 0x1b]

  /// The list for `/dev/kvm`, probed once per process (the first use opens the device on its own); nil when it
  /// cannot be opened.
  static let forDefaultDevice: SavedMSRList? = {
    let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    return probe(kvmFD: fd)
  }()

  /// Builds the list for the KVM device `kvmFD`: the candidates (KVM's two lists, then `unlistedCandidates`),
  /// kept where KVM reads them on a throwaway vCPU and takes the value read back (an MSR KVM will not set even to
  /// its own reset value, such as one that needs an in-kernel local APIC, holds nothing a guest could change).
  /// Falls back to KVM's index list alone if no vCPU can be made.
  static func probe(kvmFD: Int32) -> SavedMSRList {
    let listed =
      (try? KVMSystem.msrIndexList(kvmFD: kvmFD, request: CKVM_GET_MSR_INDEX_LIST, name: "KVM_GET_MSR_INDEX_LIST"))
      ?? []
    let features =
      (try? KVMSystem.msrIndexList(
        kvmFD: kvmFD, request: CKVM_GET_MSR_FEATURE_INDEX_LIST, name: "KVM_GET_MSR_FEATURE_INDEX_LIST")) ?? []
    var seen = Set<UInt32>()
    let candidates = (listed + features + unlistedCandidates).filter {
      !carriedBySpecialRegisters.contains($0) && seen.insert($0).inserted
    }
    let vmFD = ckvm_ioctl_value(kvmFD, CKVM_CREATE_VM, 0)
    guard vmFD >= 0 else { return SavedMSRList(indices: listed) }
    defer { close(vmFD) }
    let vcpuFD = ckvm_ioctl_value(vmFD, CKVM_CREATE_VCPU, 0)
    guard vcpuFD >= 0 else { return SavedMSRList(indices: listed) }
    defer { close(vcpuFD) }
    let readable = readable(candidates, vcpuFD: vcpuFD)
    let (values, read) = VCPU.readMSRs(vcpuFD: vcpuFD, readable)
    guard read == readable.count,
      let refused = try? VCPU.writeMSRs(
        vcpuFD: vcpuFD, zip(readable, values).map { MSREntry(index: $0, value: $1) })
    else { return SavedMSRList(indices: listed) }
    let unwritable = Set(refused.map(\.index))
    return SavedMSRList(indices: readable.filter { !unwritable.contains($0) })
  }

  /// The members of `candidates` KVM reads on `vcpuFD`: one `KVM_GET_MSRS` per run of readable MSRs (KVM stops
  /// at the first it refuses, which is then skipped).
  static func readable(_ candidates: [UInt32], vcpuFD: Int32) -> [UInt32] {
    var kept: [UInt32] = []
    var start = 0
    while start < candidates.count {
      let rest = Array(candidates[start...])
      let read = VCPU.readMSRs(vcpuFD: vcpuFD, rest).read
      guard read >= 0 else { break }
      kept.append(contentsOf: rest.prefix(read))
      start += read + 1
    }
    return kept
  }
}
