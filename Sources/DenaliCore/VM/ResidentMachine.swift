// ResidentMachine.swift: the part of a VM that exists only while it is in memory: a machine shell (KVM VM,
// vCPU, memory region), this guest's view of the memory, the hypercall table, and what the next swap-out needs
// to write only changed pages.
import KVM

/// A resident VM's machine and memory. Released whole when the VM is swapped out or finishes: its shell goes
/// back to its pool (emptied, for another guest) or, without a pool, is destroyed.
final class ResidentMachine {
  /// The KVM VM, its vCPU and memory region.
  let shell: MachineShell
  /// Where the shell goes back to; nil for a shell of its own.
  let pool: ShellPool?
  /// The KVM VM (its descriptor is kept only when dirty pages are tracked or the shell is pooled).
  var machine: VirtualMachine { shell.machine }
  /// This guest's view of guest-physical memory (revoked when the machine is released).
  let memory: GuestMemory
  /// The one vCPU.
  var vcpu: VCPU { shell.vcpu }
  /// Hypercall dispatch (its handlers capture the VM's devices).
  var hypercalls = HypercallTable()
  /// True when KVM logs the pages the guest writes (the VM can be swapped out incrementally).
  var tracksDirtyPages: Bool { shell.options.logDirtyPages }
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
  var registersSynced: Bool { shell.options.registerSync }

  /// The shell options of a Denali VM of `memorySize` bytes on `system`: KVM's rewriting of `vmcall`/`vmmcall`
  /// turned off (they raise #UD), registers synced into kvm_run at every exit where KVM can, and dirty pages
  /// logged when `tracksDirtyPages`.
  static func shellOptions(system: KVMSystem, memorySize: UInt64, tracksDirtyPages: Bool) -> ShellOptions {
    ShellOptions(
      memorySize: memorySize, logDirtyPages: tracksDirtyPages,
      disabledQuirks: system.features.disablableQuirks.intersection(.fixHypercallInstruction),
      registerSync: system.features.registerSync)
  }

  /// A machine with `memorySize` bytes of zeroed memory and one vCPU in a shell of its own. With
  /// `tracksDirtyPages`, KVM logs guest writes and the VM descriptor stays open; otherwise it is closed once
  /// setup is done (one descriptor per VM).
  /// With `template`, a new shell's memory starts as the template's pages.
  convenience init(
    system: KVMSystem, memorySize: UInt64, tracksDirtyPages: Bool, template: MemoryTemplate? = nil
  ) throws(KVMError) {
    let options = Self.shellOptions(system: system, memorySize: memorySize, tracksDirtyPages: tracksDirtyPages)
    self.init(shell: try MachineShell(system: system, options: options, mapping: template?.mapping), pool: nil)
  }

  /// A machine in a shell taken from `pool` (dirty pages logged, the descriptor kept).
  convenience init(pool: ShellPool, memorySize: UInt64, template: MemoryTemplate? = nil) throws(KVMError) {
    let options = Self.shellOptions(system: pool.system, memorySize: memorySize, tracksDirtyPages: true)
    self.init(shell: try pool.take(options, mapping: template?.mapping), pool: pool)
  }

  private init(shell: MachineShell, pool: ShellPool?) {
    self.shell = shell
    self.pool = pool
    memory = GuestMemory(region: shell.region)
    memory.trackHostWrites()
  }

  deinit {
    memory.revoke()
    pool?.give(shell)
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

  /// Closes the VM descriptor of a shell of its own when it is not needed for dirty logging (the vCPU keeps the
  /// VM alive). A pooled shell keeps it: resetting the shell for its next guest needs it.
  func finishSetup() {
    if !tracksDirtyPages && pool == nil { machine.releaseDescriptor() }
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
