// GuestLinearMemory.swift: guest memory read by linear address through the guest's own page tables, as the
// CPU would (the guest may have rewritten the identity tables the host built), for looking at its code.
import KVM

/// Reads guest memory at linear addresses, translated the way the vCPU's special registers say: no paging, or
/// 4-level long-mode paging. Other modes (32-bit and PAE legacy paging, 5-level paging), non-canonical
/// addresses, absent entries and tables or pages outside guest memory translate to nil.
struct GuestLinearMemory {
  /// The guest's memory.
  let memory: GuestMemory
  /// CR0, CR3, CR4 and EFER (and CS, CR2) as of the exit being looked at.
  let specialRegisters: SpecialRegisters
  /// The control registers the walk uses, copied out once.
  private let cr0: UInt64, cr3: UInt64, cr4: UInt64, efer: UInt64

  /// Reads `memory` as the vCPU with `specialRegisters` would.
  init(memory: GuestMemory, specialRegisters: SpecialRegisters) {
    self.memory = memory
    self.specialRegisters = specialRegisters
    cr0 = specialRegisters.cr0
    cr3 = specialRegisters.cr3
    cr4 = specialRegisters.cr4
    efer = specialRegisters.efer
  }

  private static let paging: UInt64 = 1 << 31  // CR0.PG
  private static let physicalAddressExtension: UInt64 = 1 << 5  // CR4.PAE
  private static let fiveLevelPaging: UInt64 = 1 << 12  // CR4.LA57
  private static let longModeActive: UInt64 = 1 << 10  // EFER.LMA
  private static let present: UInt64 = 1 << 0
  private static let largePage: UInt64 = 1 << 7
  /// Address bits of a table entry (bits 12-51).
  private static let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000

  /// The guest-physical address the vCPU would reach at `linear`, or nil (see the type's description).
  func physicalAddress(of linear: UInt64) -> UInt64? {
    guard cr0 & Self.paging != 0 else { return linear & 0xFFFF_FFFF }
    guard efer & Self.longModeActive != 0, cr4 & Self.physicalAddressExtension != 0, cr4 & Self.fiveLevelPaging == 0
    else { return nil }
    // Canonical: bits 63-47 all equal.
    let top = linear >> 47
    guard top == 0 || top == 0x1_FFFF else { return nil }
    var table = cr3 & Self.addressMask
    var level = 3  // PML4, PDPT, PD, PT: 3 down to 0 (a plain loop: this runs on every hypercall)
    while level >= 0 {
      defer { level -= 1 }
      let shift = UInt64(12 + 9 * level)
      let index = (linear >> shift) & 511
      guard let entry = try? memory.word(at: table &+ index * 8), entry & Self.present != 0 else {
        return nil
      }
      if level == 0 || (level <= 2 && entry & Self.largePage != 0) {
        let pageMask: UInt64 = (1 << shift) - 1
        return (entry & Self.addressMask & ~pageMask) | (linear & pageMask)
      }
      table = entry & Self.addressMask
    }
    return nil
  }

  /// The byte at `linear`, or nil when it does not translate into guest memory.
  func byte(at linear: UInt64) -> UInt8? {
    guard let physical = physicalAddress(of: linear) else { return nil }
    return try? memory.byte(at: physical)
  }

  /// The little-endian 64-bit value at `linear`, or nil when any of its bytes does not translate.
  func uint64(at linear: UInt64) -> UInt64? {
    if linear & 4095 <= 4088, let physical = physicalAddress(of: linear) { return try? memory.word(at: physical) }
    let bytes = bytes(at: linear, upTo: 8)
    guard bytes.count == 8 else { return nil }
    return bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
  }

  /// Up to `count` bytes from `linear`, stopping before the first byte that does not translate (a range may
  /// cross into another page, translated on its own).
  func bytes(at linear: UInt64, upTo count: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    var address = linear
    while bytes.count < count, let physical = physicalAddress(of: address) {
      let inPage = Int(4096 - (address & 4095))
      let take = min(inPage, count - bytes.count)
      guard let chunk = try? memory.bytes(at: physical, count: UInt64(take)) else { break }
      bytes += chunk
      address &+= UInt64(take)
    }
    return bytes
  }
}
