// MachineShell.swift: a KVM VM with one memory slot over a MemoryRegion and one vCPU, which one guest after
// another can use: emptied and reset in between, never destroyed while it is wanted again.
import CKVM
import Glibc

/// How a shell is made; a shell is reused only for a guest asking for the same.
public struct ShellOptions: Hashable, Sendable {
  /// Guest memory size in bytes (slot 0 at guest-physical 0).
  public var memorySize: UInt64
  /// KVM logs the pages the guest writes (`VirtualMachine.takeDirtyPages`).
  public var logDirtyPages: Bool
  /// Quirks turned off on the VM.
  public var disabledQuirks: KVMQuirks
  /// KVM copies the registers into `kvm_run` at every exit (`VCPU.enableRegisterSync`).
  public var registerSync: Bool

  /// Options for a shell of `memorySize` bytes.
  public init(memorySize: UInt64, logDirtyPages: Bool, disabledQuirks: KVMQuirks = [], registerSync: Bool = false) {
    self.memorySize = memorySize
    self.logDirtyPages = logDirtyPages
    self.disabledQuirks = disabledQuirks
    self.registerSync = registerSync
  }
}

/// A KVM VM (its descriptor open), its memory region mapped as slot 0 at guest-physical 0, and its one vCPU.
///
/// Between two guests the shell is emptied (`empty()`: the last exit completed, every page discarded, the
/// vCPU's exits detached) and reset (`reset(to:)`: KVM's shadows of guest page tables dropped where it keeps
/// them, the vCPU set to a fresh vCPU's state, single-stepping off, the KVM clock at zero, the dirty log
/// cleared), so that a guest finds nothing of the one before it.
public final class MachineShell {
  /// What the shell was made with.
  public let options: ShellOptions
  /// The VM; its descriptor stays open.
  public let machine: VirtualMachine
  /// The one vCPU.
  public let vcpu: VCPU
  /// The host memory behind slot 0.
  public let region: MemoryRegion
  /// Guests that have used the shell so far.
  public private(set) var uses = 0
  /// True when the shell was emptied and not reset since (it holds no guest's pages, maybe its vCPU state).
  public private(set) var isEmptied = false

  /// Creates the VM, its memory and vCPU as `options` say (a shell of no pool: `ShellPool.take` makes pooled
  /// ones). With `file`, the memory starts as that file's pages (`MemoryRegion.init(size:mapping:id:)`).
  public init(system: KVMSystem, options: ShellOptions, mapping file: (file: MemoryFile, id: UInt64)? = nil)
    throws(KVMError)
  {
    self.options = options
    machine = try system.createVirtualMachine()
    if !options.disabledQuirks.isEmpty { try machine.disableQuirks(options.disabledQuirks) }
    region = try MemoryRegion(size: options.memorySize, mapping: file?.file, id: file?.id ?? 0)
    try machine.mapMemory(GuestMemory(region: region), at: 0, logDirtyPages: options.logDirtyPages)
    vcpu = try machine.createVCPU()
    if options.registerSync { vcpu.enableRegisterSync() }
  }

  /// Ends a guest's use of the shell: finishes the I/O instruction of its last exit (without running it
  /// further), and discards every page of memory. Throws when KVM will not finish that exit (the shell is then
  /// not fit for another guest).
  func empty() throws(KVMError) {
    try vcpu.completePendingExit()
    try region.discardPages()
    isEmptied = true
  }

  /// Makes a shell (emptied first if it was not) like a new one for the next guest: drops KVM's page-table shadows for the memory
  /// (`shadowsGuestPageTables`) or else its dirty log, writes the fresh vCPU state `fresh`, turns off
  /// single-stepping, sets the KVM clock to zero and forgets pending kicks.
  func reset(to fresh: VCPUState, shadowsGuestPageTables: Bool) throws(KVMError) {
    if !isEmptied { try empty() }
    if shadowsGuestPageTables {
      try machine.remapMemory()
    } else if options.logDirtyPages {
      _ = try machine.takeDirtyPages()
    }
    try vcpu.setSingleStep(false)
    try fresh.restore(into: vcpu)
    try machine.setKVMClock(0)
    _ = vcpu.kicker.takeReasons()
    ckvm_run_set_immediate_exit(vcpu.mapping.run, 0)
    isEmptied = false
  }

  /// Counts a guest starting on the shell.
  func claim() { uses += 1 }
}
