// ShellPool.swift: machine shells kept between guests, so that booting or swapping in a VM takes a reset shell
// instead of creating a KVM VM and vCPU, and a VM leaving memory gives its shell back instead of destroying it.
import Glibc
import ThreadConfinement

/// A thread-safe pool of `MachineShell`s of one KVM system, at most `capacity` kept.
///
/// `give(_:)` empties a shell (its memory discarded at once) and keeps it, or destroys it when the pool is full
/// or the shell cannot be emptied. A thread of the pool then resets kept shells in the background (the reset
/// waits for KVM's readers of the memory slots when it drops KVM's page-table shadows, up to milliseconds on a
/// loaded host), so that `take(_:)` usually finds one ready; otherwise it resets one itself, or creates a new
/// one. KVM's per-VM costs (creating the VM, vCPU and memory slot, registering with the process's memory
/// notifiers, and tearing it all down) are paid once per shell, not once per boot or swap-in.
public final class ShellPool: @unchecked Sendable {
  /// The KVM system shells are made from.
  public let system: KVMSystem
  /// Most shells kept.
  public let capacity: Int

  /// What the pool has done.
  public struct Statistics: Sendable, Equatable {
    /// Shells created.
    public var created = 0
    /// Shells taken from the pool (reset and reused).
    public var reused = 0
    /// Of those, shells `take` had to reset itself (none was ready).
    public var resetOnTake = 0
    /// Shells destroyed: the pool was full, or a shell could not be emptied or reset.
    public var destroyed = 0
    /// Shells kept now (ready or waiting for their reset).
    public var kept = 0
  }

  /// Everything the pool and its thread share; the thread keeps it (not the pool) alive.
  private let shared: Shared

  /// A pool of at most `capacity` kept shells of `system`.
  public init(system: KVMSystem, capacity: Int = 64) {
    self.system = system
    self.capacity = max(0, capacity)
    shared = Shared(shadowsGuestPageTables: system.features.shadowsGuestPageTables)
  }

  deinit { shared.stop() }

  /// What the pool has done so far.
  public var statistics: Statistics { shared.withLock { shared.counts } }

  /// A shell made with `options` for a new guest: a kept one, reset, or a new one (whose memory starts as
  /// `file`'s pages, when given). A kept one's memory is what its region last mapped with the pages discarded:
  /// all zero, or a file's pages (see `MemoryRegion.mapPrivately`).
  public func take(_ options: ShellOptions, mapping file: (file: MemoryFile, id: UInt64)? = nil) throws(KVMError)
    -> MachineShell
  {
    while let (shell, ready, fresh) = shared.withLock({ () -> (MachineShell, Bool, VCPUState?)? in
      while true {
        if let shell = shared.ready[options]?.popLast() {
          shared.counts.kept -= 1
          return (shell, true, shared.freshState)
        }
        if let index = shared.dirty.lastIndex(where: { $0.options == options }) {
          shared.counts.kept -= 1
          return (shared.dirty.remove(at: index), false, shared.freshState)
        }
        // One is being reset: it is ready in moments, far sooner than a new VM could be made.
        guard shared.resetting[options, default: 0] > 0, !shared.stopping else { return nil }
        // SAFETY: the mutex is held (withLock), as pthread_cond_wait requires.
        pthread_cond_wait(shared.resetDone, shared.mutex)
      }
    }) {
      do {
        if !ready {
          guard let fresh else {
            throw KVMError(operation: "resetting a machine shell (no fresh vCPU state)", errno: EINVAL)
          }
          try shell.reset(to: fresh, shadowsGuestPageTables: shared.shadowsGuestPageTables)
        }
        shell.claim()
        shared.withLock {
          shared.counts.reused += 1
          if !ready { shared.counts.resetOnTake += 1 }
        }
        return shell
      } catch {
        shared.withLock { shared.counts.destroyed += 1 }  // dropped here: not fit for another guest
      }
    }
    let shell = try MachineShell(system: system, options: options, mapping: file)
    if shared.withLock({ shared.freshState == nil }) {
      let state = try VCPUState(capturing: shell.vcpu)
      shared.withLock { if shared.freshState == nil { shared.freshState = state } }
    }
    shell.claim()
    shared.withLock { shared.counts.created += 1 }
    return shell
  }

  /// Starts the resetting thread now rather than at the first shell given back (so that it is not created by a
  /// thread whose seccomp filter forbids creating threads).
  public func startResetThread() {
    let startThread = shared.withLock { () -> Bool in
      defer { shared.threadStarted = true }
      return !shared.threadStarted && !shared.stopping
    }
    if startThread { shared.startThread() }
  }

  /// Takes back a shell its guest is done with: keeps it for the pool's thread to empty (its memory discarded)
  /// and reset, or destroys it when the pool is full. The caller must not use it afterwards.
  public func give(_ shell: MachineShell) {
    // Emptied (last exit completed, pages discarded) by the pool's thread, not here: whichever thread drops a VM
    // gives its shell back (the main thread at stop), and completing an exit is a KVM_RUN, which only workers',
    // swap threads' and the pool's own seccomp filters allow.
    let startThread = shared.withLock { () -> Bool in
      guard shared.counts.kept < capacity, shell.machine.fd >= 0, !shared.stopping else {
        shared.counts.destroyed += 1
        return false
      }
      shared.dirty.append(shell)
      shared.counts.kept += 1
      pthread_cond_signal(shared.condition)
      defer { shared.threadStarted = true }
      return !shared.threadStarted
    }
    if startThread { shared.startThread() }
    // A shell not kept is destroyed as the last reference goes, here: outside the lock.
  }

  /// The pool's state and its resetting thread.
  private final class Shared: @unchecked Sendable {
    let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Broadcast whenever the thread finishes a reset (`take` may wait for one).
    let resetDone = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Shells the thread is resetting now, by options. Guarded by `mutex`.
    var resetting: [ShellOptions: Int] = [:]
    /// Whether resets drop KVM's page-table shadows (`KVMFeatures.shadowsGuestPageTables`).
    let shadowsGuestPageTables: Bool
    /// Emptied shells ready for a guest, by options. Guarded by `mutex`.
    var ready: [ShellOptions: [MachineShell]] = [:]
    /// Emptied shells waiting for their reset, oldest first. Guarded by `mutex`.
    var dirty: [MachineShell] = []
    /// Guarded by `mutex`.
    var counts = Statistics()
    /// The state of a vCPU nobody has run, written into every reused shell; captured from the first shell made.
    /// Guarded by `mutex`.
    var freshState: VCPUState?
    /// Guarded by `mutex`.
    var threadStarted = false
    /// Guarded by `mutex`.
    var stopping = false

    init(shadowsGuestPageTables: Bool) {
      self.shadowsGuestPageTables = shadowsGuestPageTables
      // SAFETY: freshly allocated; initialised before any use, destroyed and freed in deinit.
      pthread_mutex_init(mutex, nil)
      pthread_cond_init(condition, nil)
      pthread_cond_init(resetDone, nil)
    }

    deinit {
      // SAFETY: no thread uses them any more: the resetting thread holds a reference to self while it runs.
      pthread_cond_destroy(condition)
      pthread_cond_destroy(resetDone)
      pthread_mutex_destroy(mutex)
      condition.deallocate()
      resetDone.deallocate()
      mutex.deallocate()
    }

    func withLock<R>(_ body: () -> R) -> R {
      pthread_mutex_lock(mutex)
      defer { pthread_mutex_unlock(mutex) }
      return body()
    }

    /// Ends the thread and drops every kept shell (destroyed as the last references go).
    func stop() {
      let dropped = withLock { () -> [MachineShell] in
        stopping = true
        pthread_cond_signal(condition)
        pthread_cond_broadcast(resetDone)
        defer {
          ready = [:]
          dirty = []
        }
        return dirty + ready.values.flatMap { $0 }
      }
      _ = dropped  // released here, outside the lock
    }

    func startThread() {
      // The thread keeps the state alive until the pool stops; shells are reset by `take` when it cannot start.
      if !DetachedThread.start({ self.loop() }) { withLock { threadStarted = false } }
    }

    /// Resets dirty shells one at a time (the lock not held meanwhile) until the pool stops.
    private func loop() {
      ThreadConfinement.enter(.shellReset)
      while let (shell, fresh) = nextDirty() {
        var fit = true
        do { try shell.reset(to: fresh, shadowsGuestPageTables: shadowsGuestPageTables) } catch { fit = false }
        withLock {
          resetting[shell.options, default: 1] -= 1
          if !fit || stopping {
            counts.kept -= 1
            if !fit { counts.destroyed += 1 }
          } else {
            ready[shell.options, default: []].append(shell)
          }
          pthread_cond_broadcast(resetDone)
        }
      }
    }

    /// Blocks until a dirty shell waits (and a fresh state is known), and takes it; nil once stopping.
    private func nextDirty() -> (MachineShell, VCPUState)? {
      withLock {
        while !stopping {
          if let fresh = freshState, !dirty.isEmpty {
            let shell = dirty.removeFirst()
            resetting[shell.options, default: 0] += 1
            return (shell, fresh)
          }
          // SAFETY: the mutex is held (withLock), as pthread_cond_wait requires.
          pthread_cond_wait(condition, mutex)
        }
        return nil
      }
    }
  }
}
