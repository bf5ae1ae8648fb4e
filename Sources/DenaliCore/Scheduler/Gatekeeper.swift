// Gatekeeper.swift: Denali's gatekeeper: admits VMs into memory while a budget allows and picks the VMs to
// swap out to make room (idle the longest first; never a running one).
import DequeModule

/// The memory-admission policy. Not thread-safe: the scheduler calls it with its lock held.
struct Gatekeeper {
  /// What the scheduler must do next.
  enum Decision {
    /// Load this VM (boot it or swap it in); its memory is already charged.
    case load(ScheduledVM)
    /// Swap this VM out to make room.
    case evict(ScheduledVM)
  }

  /// Bytes of guest memory that may be in memory at once.
  let budget: UInt64
  /// Bytes charged for VMs in memory, being loaded, or being swapped out.
  private(set) var chargedBytes: UInt64 = 0
  /// Of those, bytes of VMs being swapped out now (room that is on its way).
  private(set) var evictingBytes: UInt64 = 0
  /// VMs in memory (resident, loading or unloading).
  private(set) var chargedCount = 0
  /// Runnable VMs that are not in memory and have run before (swapped out, now woken), first come first served.
  private var returningQueue = Deque<(vm: ScheduledVM, since: UInt64)>()
  /// Runnable VMs never loaded yet, first come first served.
  private var newQueue = Deque<(vm: ScheduledVM, since: UInt64)>()
  /// How long a VM never loaded may wait while returning VMs go first, nanoseconds. Past it the two queues take
  /// turns (one admission each), so a stream of wake-ups cannot hold new VMs back for ever and a burst of new
  /// VMs cannot hold a running service back either.
  static let newVMPatience: UInt64 = 500_000_000
  /// True when the latest admission taken while both queues waited came from the returning queue.
  private var servedReturningLast = false
  /// Resident VMs in the order they went idle (entries go stale when a VM wakes; checked by generation).
  private var idleResidents = Deque<(vm: ScheduledVM, generation: UInt64)>()

  /// How long a runnable VM stays in memory after admission before it may be evicted (so rotation through
  /// a memory full of busy VMs does not thrash), nanoseconds.
  static let minimumResidency: UInt64 = 200_000_000

  /// A gatekeeper for `budget` bytes.
  init(budget: UInt64) { self.budget = budget }

  /// VMs waiting for admission.
  var waitingCount: Int { returningQueue.count + newQueue.count }

  /// Charges a VM that is already in memory (submitted resident).
  mutating func chargeResident(_ vm: ScheduledVM) {
    chargedBytes += vm.memorySize
    chargedCount += 1
  }

  /// Queues a runnable VM that is not in memory for admission: a VM that has run before goes ahead of VMs
  /// never loaded (a running service that woke in swap does not wait behind a burst of new VMs); once the
  /// oldest new VM has waited `newVMPatience`, the two queues take turns.
  mutating func requestAdmission(_ vm: ScheduledVM, now: UInt64 = monotonicNanoseconds()) {
    guard !vm.awaitingAdmission else { return }
    vm.awaitingAdmission = true
    if vm.hasBeenLoaded { returningQueue.append((vm, now)) } else { newQueue.append((vm, now)) }
  }

  /// The queue admission serves next: returning VMs first; once the oldest new VM has waited `newVMPatience`,
  /// the queues take turns.
  private func nextQueueIsReturning(now: UInt64) -> Bool? {
    switch (returningQueue.first, newQueue.first) {
    case (nil, nil): nil
    case (_?, nil): true
    case (nil, _?): false
    case (_?, let new?): now &- new.since < Self.newVMPatience || !servedReturningLast
    }
  }

  /// Notes that a resident VM went idle: it becomes a candidate for eviction.
  mutating func noteIdle(_ vm: ScheduledVM) {
    idleResidents.append((vm, vm.idleGeneration))
    // Entries go stale as VMs wake; drop them before they outnumber the live ones.
    if idleResidents.count > 2 * chargedCount + 64 {
      idleResidents = Deque(idleResidents.filter { isEvictableIdle($0.vm, $0.generation, now: 0) })
    }
  }

  /// Admits waiting VMs while the budget allows, and picks victims to evict for the first one that does not
  /// fit. `runQueue` is where runnable resident VMs wait; a victim taken from it is removed.
  mutating func decide(now: UInt64, runQueue: inout RunQueue) -> [Decision] {
    var decisions: [Decision] = []
    while let returning = nextQueueIsReturning(now: now) {
      guard let vm = returning ? returningQueue.first?.vm : newQueue.first?.vm else { break }
      if vm.state == .finished {  // stopped while it waited
        if returning { returningQueue.removeFirst() } else { newQueue.removeFirst() }
        vm.awaitingAdmission = false
        continue
      }
      let free = budget > chargedBytes ? budget - chargedBytes : 0
      if vm.memorySize <= free {
        if !returningQueue.isEmpty && !newQueue.isEmpty { servedReturningLast = returning }
        if returning { returningQueue.removeFirst() } else { newQueue.removeFirst() }
        vm.awaitingAdmission = false
        vm.residency = .loading
        vm.admittedAt = now
        chargedBytes += vm.memorySize
        chargedCount += 1
        decisions.append(.load(vm))
        continue
      }
      // Room already on its way counts: wait for those swap-outs before evicting more. Evict a little
      // ahead (up to a sixteenth of the budget) so swap-outs are synced in batches.
      let headroom = min(budget / 16, 16 * vm.memorySize)
      if evictingBytes >= vm.memorySize - free + headroom { break }
      guard let victim = pickVictim(now: now, runQueue: &runQueue) else { break }
      victim.residency = .unloading
      evictingBytes += victim.memorySize
      decisions.append(.evict(victim))
    }
    return decisions
  }

  /// A VM's load failed (it is over): its charge is returned.
  mutating func loadFailed(_ vm: ScheduledVM) { uncharge(vm) }

  /// Marks a resident VM as being swapped out at the scheduler's own request (a daemon suspending every VM).
  mutating func beginEviction(_ vm: ScheduledVM) {
    vm.residency = .unloading
    evictingBytes += vm.memorySize
  }

  /// A swap-out committed: the VM's memory is free.
  mutating func evicted(_ vm: ScheduledVM) {
    evictingBytes -= vm.memorySize
    uncharge(vm)
    vm.residency = .absent
  }

  /// A swap-out failed: the VM stays resident (and is not picked again before its retry time).
  mutating func evictionFailed(_ vm: ScheduledVM) {
    evictingBytes -= vm.memorySize
    vm.residency = .resident
    if vm.state == .idle { idleResidents.append((vm, vm.idleGeneration)) }
  }

  /// A resident VM finished: its memory is free.
  mutating func released(_ vm: ScheduledVM) { uncharge(vm) }

  private mutating func uncharge(_ vm: ScheduledVM) {
    chargedBytes -= vm.memorySize
    chargedCount -= 1
  }

  private func isEvictableIdle(_ vm: ScheduledVM, _ generation: UInt64, now: UInt64) -> Bool {
    vm.state == .idle && vm.idleGeneration == generation && vm.residency == .resident
      && (now == 0 || vm.swapRetryAfter <= now)
  }

  /// The VM idle the longest, else a runnable resident VM that has had a slice since it was admitted.
  private mutating func pickVictim(now: UInt64, runQueue: inout RunQueue) -> ScheduledVM? {
    var deferred: [(vm: ScheduledVM, generation: UInt64)] = []
    defer { idleResidents.append(contentsOf: deferred) }
    while let entry = idleResidents.popFirst() {
      guard isEvictableIdle(entry.vm, entry.generation, now: 0) else { continue }  // stale
      if entry.vm.swapRetryAfter > now {
        deferred.append(entry)  // backing off after a failure: keep it for later
        continue
      }
      return entry.vm
    }
    // Every resident VM wants the CPU: rotate, evicting the one that has waited longest after its slice.
    return runQueue.removeLongestQueued {
      $0.residency == .resident && $0.slicesSinceAdmission > 0 && $0.swapRetryAfter <= now
        && now &- $0.admittedAt >= Self.minimumResidency
    }
  }
}
