// VirtualRegisters.swift: the host-written virtual-registers page at DENALI_GPA_VREGS (read without a trap).

/// The virtual registers: values the host writes into the page at `DENALI_GPA_VREGS` on every entry into the
/// guest (after every hypercall or other exit). Each read is one volatile load in C, so a value read after a
/// hypercall is that hypercall's fresh value; between exits the values do not change.
public enum VirtualRegisters {
  /// Whether the host provides the page: its magic is `DENALI_VREGS_MAGIC` and its ABI version is this guest's.
  public static var isPresent: Bool {
    ilwaco_vregs_magic() == DENALI_VREGS_MAGIC && ilwaco_vregs_abi_version() == DENALI_ABI_VERSION
  }

  /// Nanoseconds since the VM was created, as of the last entry into the guest.
  public static var monotonicNanoseconds: UInt64 { ilwaco_vregs_monotonic_ns() }

  /// Nanoseconds since the Unix epoch (UTC), as of the last entry into the guest.
  public static var wallClockNanoseconds: UInt64 { ilwaco_vregs_wallclock_ns() }

  /// Bytes of guest memory.
  public static var memorySize: UInt64 { ilwaco_vregs_memory_size() }

  /// The CPU's time-stamp counter frequency in Hz; 0 if the host does not know it.
  public static var tscFrequencyHertz: UInt64 { ilwaco_vregs_tsc_frequency_hz() }

  /// This VM's identifier, unique within the daemon.
  public static var vmID: UInt64 { ilwaco_vregs_vm_id() }

  /// `DENALI_IRQ_*` bits pending now (an idle hypercall delivers and clears them; see `Interrupt`).
  public static var pendingInterrupts: UInt64 { ilwaco_vregs_pending_interrupts() }

  /// Number of 4 KiB blocks of the virtual disk; 0 if there is no disk.
  public static var diskBlocks: UInt64 { ilwaco_vregs_disk_blocks() }

  /// `DENALI_DISK_*` flags of the virtual disk (`DENALI_DISK_READ_ONLY`).
  public static var diskFlags: UInt64 { ilwaco_vregs_disk_flags() }

  /// The NIC's MAC address, first byte first (all zero without a NIC; see `NetworkInterface`).
  public static var mac: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) {
    let bits = ilwaco_vregs_mac()
    return (
      UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8), UInt8(truncatingIfNeeded: bits >> 16),
      UInt8(truncatingIfNeeded: bits >> 24), UInt8(truncatingIfNeeded: bits >> 32),
      UInt8(truncatingIfNeeded: bits >> 40)
    )
  }
}
