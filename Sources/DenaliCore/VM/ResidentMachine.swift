// ResidentMachine.swift: the part of a VM that exists only while it is in memory: KVM objects, guest memory,
// the hypercall table, and what the next swap-out needs to write only changed pages.
import KVM

/// A resident VM's KVM objects and memory. Released whole when the VM is swapped out or finishes.
final class ResidentMachine {
  /// The KVM VM (its descriptor is kept only when dirty pages are tracked).
  let machine: VirtualMachine
  /// Guest-physical memory.
  let memory: GuestMemory
  /// The one vCPU.
  let vcpu: VCPU
  /// Hypercall dispatch (its handlers capture the VM's devices).
  var hypercalls = HypercallTable()
  /// True when KVM logs the pages the guest writes (the VM can be swapped out incrementally).
  let tracksDirtyPages: Bool
  /// The page entries of the swap image this memory was loaded from; nil when there is none (the next
  /// swap-out writes every non-zero page).
  var swapEntries: [SwapPageEntry]?
  /// Pages taken from the dirty logs by a swap-out that was not committed; the next one writes them too.
  var carriedChanges: PageBitmap?
  /// The virtual-registers page with its host-owned fields, rewritten whole before every entry.
  var virtualRegisters = VirtualRegistersPage()
  /// Watches for an instruction KVM retries forever.
  var progress = ProgressWatch()
  /// True when KVM copies the registers into kvm_run at every exit.
  let registersSynced: Bool

  /// Creates a VM with `memorySize` bytes of zeroed memory and one vCPU. With `tracksDirtyPages`, KVM logs
  /// guest writes and the VM descriptor stays open; otherwise it is closed (one descriptor per VM).
  /// KVM's rewriting of `vmcall`/`vmmcall` is turned off (they raise #UD), and the registers are synced into
  /// kvm_run at every exit where KVM can.
  init(system: KVMSystem, memorySize: UInt64, tracksDirtyPages: Bool) throws(KVMError) {
    machine = try system.createVirtualMachine()
    if system.features.disablableQuirks.contains(.fixHypercallInstruction) {
      try machine.disableQuirks(.fixHypercallInstruction)
    }
    memory = try GuestMemory(size: memorySize)
    try machine.mapMemory(memory, at: 0, logDirtyPages: tracksDirtyPages)
    vcpu = try machine.createVCPU()
    registersSynced = system.features.registerSync
    if registersSynced { vcpu.enableRegisterSync() }
    self.tracksDirtyPages = tracksDirtyPages
    memory.trackHostWrites()
  }

  /// The general registers as of the last exit (from kvm_run when synced, else an ioctl).
  func exitRegisters() throws(KVMError) -> Registers {
    registersSynced ? vcpu.syncedRegisters() : try vcpu.registers()
  }

  /// The special registers as of the last exit (from kvm_run when synced, else an ioctl).
  func exitSpecialRegisters() throws(KVMError) -> SpecialRegisters {
    registersSynced ? vcpu.syncedSpecialRegisters() : try vcpu.specialRegisters()
  }

  /// The guest's memory as its code sees it at the last exit: through its own page tables.
  func guestCode() throws(KVMError) -> GuestLinearMemory {
    GuestLinearMemory(memory: memory, specialRegisters: try exitSpecialRegisters())
  }

  /// Closes the VM descriptor when it is not needed for dirty logging (the vCPU keeps the VM alive).
  func finishSetup() {
    if !tracksDirtyPages { machine.releaseDescriptor() }
  }

  /// The pages changed since the image was loaded or last committed: guest writes, host writes, and the
  /// changes of any swap-out that was not committed. Clears the logs; the result is kept as carried changes
  /// until a swap-out commits.
  func takeChangedPages() throws(KVMError) -> PageBitmap {
    var changed = memory.takeHostWrites()
    if tracksDirtyPages {
      changed.formUnion(try machine.takeDirtyPages())
    } else {
      changed = .all(pageCount: memory.pageCount)
    }
    if let carriedChanges { changed.formUnion(carriedChanges) }
    carriedChanges = changed
    return changed
  }
}
