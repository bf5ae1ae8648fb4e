// RunQueue.swift: the resident runnable VMs, ordered by the CPU time each has had (its virtual runtime),
// so that the next slice always goes to the VM that has had the least.
import HeapModule

/// Runnable resident VMs in order of virtual runtime, then of queueing. Not thread-safe: the scheduler uses
/// it with its lock held.
///
/// A VM is in the queue at most once: `insert` of a queued VM moves it. Removal is lazy (the VM's token
/// stops matching its entry), and stale entries are compacted away before they outnumber the live ones,
/// so the heap holds O(queued VMs).
struct RunQueue {
  private struct Entry: Comparable {
    let virtualRuntime: UInt64
    let token: UInt64
    let vm: ScheduledVM

    static func < (a: Entry, b: Entry) -> Bool { (a.virtualRuntime, a.token) < (b.virtualRuntime, b.token) }
    static func == (a: Entry, b: Entry) -> Bool { a.token == b.token }
  }

  private var heap = Heap<Entry>()
  private var nextToken: UInt64 = 0
  /// VMs queued now (live entries).
  private(set) var count = 0

  /// True when no VM is queued.
  var isEmpty: Bool { count == 0 }

  /// Entries in the heap, live or stale (for tests: stays O(count)).
  var storedEntries: Int { heap.count }

  /// Queues `vm` at its current virtual runtime (moving it if it is queued already).
  mutating func insert(_ vm: ScheduledVM) {
    remove(vm)
    nextToken &+= 1
    vm.runQueueToken = nextToken
    heap.insert(Entry(virtualRuntime: vm.virtualRuntime, token: nextToken, vm: vm))
    count += 1
  }

  /// The VM at the head of the queue, possibly one already removed (for prefetch hints only).
  func peekFirst() -> ScheduledVM? { heap.min?.vm }

  /// Takes the queued VM with the least virtual runtime (the longest queued among equals).
  mutating func popFirst() -> ScheduledVM? {
    while let entry = heap.popMin() {
      guard entry.vm.runQueueToken == entry.token else { continue }  // removed or moved since
      entry.vm.runQueueToken = nil
      count -= 1
      return entry.vm
    }
    return nil
  }

  /// Takes `vm` out of the queue if it is there.
  mutating func remove(_ vm: ScheduledVM) {
    guard vm.runQueueToken != nil else { return }
    vm.runQueueToken = nil
    count -= 1
    compactIfStale()
  }

  /// Takes the VM queued the longest among those matching `predicate`, if any (the gatekeeper's rotation
  /// victim). O(entries).
  mutating func removeLongestQueued(where predicate: (ScheduledVM) -> Bool) -> ScheduledVM? {
    var best: Entry?
    for entry in heap.unordered where entry.vm.runQueueToken == entry.token && predicate(entry.vm) {
      if best.map({ entry.token < $0.token }) ?? true { best = entry }
    }
    guard let vm = best?.vm else { return nil }
    remove(vm)
    return vm
  }

  /// Rebuilds the heap from its live entries once stale ones outnumber them.
  private mutating func compactIfStale() {
    guard heap.count > 2 * count + 64 else { return }
    heap = Heap(heap.unordered.filter { $0.vm.runQueueToken == $0.token })
  }
}
