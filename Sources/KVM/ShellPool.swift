// ShellPool.swift: machine shells kept between guests, so that booting or swapping in a VM takes a reset shell
// instead of creating a KVM VM and vCPU, and a VM leaving memory gives its shell back instead of destroying it.
import Glibc

/// A thread-safe pool of emptied `MachineShell`s of one KVM system, at most `capacity` kept.
///
/// `take(_:)` returns a kept shell made with the same options, reset for its new guest, or a new one; `give(_:)`
/// empties a shell (its memory discarded at once) and keeps it, or destroys it when the pool is full or the shell
/// cannot be emptied. KVM's per-VM costs (creating the VM, vCPU and memory slot, registering with the process's
/// memory notifiers, and tearing it all down) are paid once per shell, not once per boot or swap-in.
public final class ShellPool: @unchecked Sendable {
  /// The KVM system shells are made from.
  public let system: KVMSystem
  /// Most emptied shells kept.
  public let capacity: Int

  /// What the pool has done.
  public struct Statistics: Sendable, Equatable {
    /// Shells created.
    public var created = 0
    /// Shells taken from the pool (reset and reused).
    public var reused = 0
    /// Shells destroyed: the pool was full, or a shell could not be emptied or reset.
    public var destroyed = 0
    /// Emptied shells kept now.
    public var kept = 0
  }

  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  /// Guarded by `mutex`.
  private var kept: [ShellOptions: [MachineShell]] = [:]
  /// Guarded by `mutex`.
  private var counts = Statistics()
  /// The state of a vCPU nobody has run, written into every reused shell; captured from the first shell made.
  /// Guarded by `mutex`.
  private var freshState: VCPUState?

  /// A pool of at most `capacity` kept shells of `system`.
  public init(system: KVMSystem, capacity: Int = 64) {
    self.system = system
    self.capacity = max(0, capacity)
    // SAFETY: freshly allocated; initialised before any use, destroyed and freed in deinit.
    pthread_mutex_init(mutex, nil)
  }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
  }

  private func withLock<R>(_ body: () -> R) -> R {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return body()
  }

  /// What the pool has done so far.
  public var statistics: Statistics { withLock { counts } }

  /// A shell made with `options` for a new guest: a kept one, reset, or a new one. Its memory is all zero and
  /// anonymous, or what the region last mapped with the pages discarded (see `MemoryRegion.mapPrivately`).
  public func take(_ options: ShellOptions) throws(KVMError) -> MachineShell {
    while let shell = withLock({ () -> MachineShell? in
      guard let shell = kept[options]?.popLast() else { return nil }
      counts.kept -= 1
      return shell
    }) {
      guard let fresh = withLock({ freshState }) else { break }
      do {
        try shell.reset(to: fresh, shadowsGuestPageTables: system.features.shadowsGuestPageTables)
        shell.claim()
        withLock { counts.reused += 1 }
        return shell
      } catch {
        withLock { counts.destroyed += 1 }  // dropped here: not fit for another guest
      }
    }
    let shell = try MachineShell(system: system, options: options)
    let needsFreshState = withLock { freshState == nil }
    if needsFreshState {
      let state = try VCPUState(capturing: shell.vcpu)
      withLock { if freshState == nil { freshState = state } }
    }
    shell.claim()
    withLock { counts.created += 1 }
    return shell
  }

  /// Takes back a shell its guest is done with: empties it (its memory is discarded at once) and keeps it, or
  /// destroys it when the pool is full or it cannot be emptied. The caller must not use it afterwards.
  public func give(_ shell: MachineShell) {
    var keep = true
    do { try shell.empty() } catch { keep = false }
    withLock {
      if keep && counts.kept < capacity && shell.machine.fd >= 0 {
        kept[shell.options, default: []].append(shell)
        counts.kept += 1
      } else {
        counts.destroyed += 1
      }
    }
    // A shell not kept is destroyed as the last reference goes, here: outside the lock.
  }
}
