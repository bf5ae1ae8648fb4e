// VirtualRegistersPage.swift: the virtual-registers page the guest reads without a trap, kept current by the host.
import DenaliABI
import KVM

/// The host's side of `struct denali_vregs` at `DENALI_GPA_VREGS`: the whole struct, host-owned fields and all,
/// is written before every entry into the guest, so what a guest writes there never survives to its next
/// instruction after an exit (the ABI: the page is host-written; guest writes are overwritten).
struct VirtualRegistersPage {
  /// Identity and sizes, fixed while the VM is resident.
  struct Fixed {
    var vmID: UInt64
    var memorySize: UInt64
    var tscFrequencyHz: UInt64
    var diskBlocks: UInt64
    var diskFlags: UInt64
    /// The NIC's port, whose MAC and IPv4 configuration the guest sees; nil without a NIC.
    var network: NetworkPort? = nil
  }

  /// The struct as the host writes it; clocks and pending mask are set by each `write`.
  private var page = denali_vregs()

  /// A page with nothing set (not written anywhere yet).
  init() {}

  /// A page holding magic, version and the fixed fields; times and pending start at zero.
  init(_ fixed: Fixed) {
    page.magic = DENALI_VREGS_MAGIC
    page.abi_version = DENALI_ABI_VERSION
    page.memory_size = fixed.memorySize
    page.tsc_frequency_hz = fixed.tscFrequencyHz
    page.vm_id = fixed.vmID
    page.disk_blocks = fixed.diskBlocks
    page.disk_flags = fixed.diskFlags
    if let port = fixed.network {
      let mac = port.mac.bytes
      let address = port.address.bytes
      let mask = port.interface.netmask.bytes
      let gateway = port.gateway?.bytes ?? [0, 0, 0, 0]
      page.mac = (mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
      page.ipv4_address = (address[0], address[1], address[2], address[3])
      page.ipv4_netmask = (mask[0], mask[1], mask[2], mask[3])
      page.ipv4_gateway = (gateway[0], gateway[1], gateway[2], gateway[3])
      page.net_flags = DENALI_NET_PRESENT
    }
  }

  /// Writes the whole struct (128 bytes) with the given clocks and pending mask; called before every entry.
  mutating func write(
    to memory: GuestMemory, monotonic: UInt64, wallClock: UInt64, pending: UInt64
  ) throws(GuestMemoryError) {
    page.monotonic_ns = monotonic
    page.wallclock_ns = wallClock
    page.pending_interrupts = pending
    try memory.store(page, at: DENALI_GPA_VREGS)
  }
}
