// VirtualRegistersPage.swift: the virtual-registers page the guest reads without a trap, kept current by the host.
import DenaliABI
import KVM

/// The host's side of `struct denali_vregs` at `DENALI_GPA_VREGS`.
struct VirtualRegistersPage {
  /// Identity and sizes written once when the VM is created.
  struct Fixed {
    var vmID: UInt64
    var memorySize: UInt64
    var tscFrequencyHz: UInt64
    var diskBlocks: UInt64
    var diskFlags: UInt64
    /// The NIC's port, whose MAC and IPv4 configuration the guest sees; nil without a NIC.
    var network: NetworkPort? = nil
  }

  private static let monotonicOffset = UInt64(MemoryLayout<denali_vregs>.offset(of: \.monotonic_ns) ?? 8)
  private static let wallClockOffset = UInt64(MemoryLayout<denali_vregs>.offset(of: \.wallclock_ns) ?? 16)
  private static let pendingOffset = UInt64(MemoryLayout<denali_vregs>.offset(of: \.pending_interrupts) ?? 48)

  /// Writes the whole page: magic, version and the fixed fields; times and pending start at zero.
  static func install(_ fixed: Fixed, in memory: GuestMemory) throws(GuestMemoryError) {
    var page = denali_vregs()
    page.magic = DENALI_VREGS_MAGIC
    page.abi_version = DENALI_ABI_VERSION
    page.memory_size = fixed.memorySize
    page.tsc_frequency_hz = fixed.tscFrequencyHz
    page.vm_id = fixed.vmID
    page.disk_blocks = fixed.diskBlocks
    page.disk_flags = fixed.diskFlags
    if let port = fixed.network {
      let mac = port.mac.bytes, address = port.address.bytes, mask = port.interface.netmask.bytes
      let gateway = port.gateway?.bytes ?? [0, 0, 0, 0]
      page.mac = (mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
      page.ipv4_address = (address[0], address[1], address[2], address[3])
      page.ipv4_netmask = (mask[0], mask[1], mask[2], mask[3])
      page.ipv4_gateway = (gateway[0], gateway[1], gateway[2], gateway[3])
      page.net_flags = DENALI_NET_PRESENT
    }
    try memory.store(page, at: DENALI_GPA_VREGS)
  }

  /// Refreshes the clocks and the pending mask; called before every entry into the guest.
  static func refresh(
    in memory: GuestMemory, monotonic: UInt64, wallClock: UInt64, pending: UInt64
  ) throws(GuestMemoryError) {
    try memory.write(monotonic, at: DENALI_GPA_VREGS + monotonicOffset)
    try memory.write(wallClock, at: DENALI_GPA_VREGS + wallClockOffset)
    try memory.write(pending, at: DENALI_GPA_VREGS + pendingOffset)
  }
}
