// TimerQueue.swift: every deadline the scheduler keeps (idle timeouts, run timeouts) in one min-heap whose
// size stays proportional to the live deadlines, however many idles end early, and when the timer thread must
// next wake for them given each one's leeway.
import HeapModule

/// The scheduler's deadlines. Not thread-safe: the scheduler uses it with its lock held.
///
/// An entry goes stale when what it was for ends first (an idle cut short by an interrupt, a VM that
/// finished before its run timeout). The scheduler reports each such entry with `noteStale()`; stale
/// entries are skipped when they come due and compacted away once they outnumber the live ones, so a VM
/// woken early 100,000 times leaves no trail of entries behind (they once pushed every timer in the
/// process into the batched mode, and kept finished VMs' records alive until their old deadlines).
///
/// Each entry may fire up to its leeway late. The heap is ordered by deadline, so the earliest entry's latest time
/// bounds every entry whose leeway is the maximum; entries with less leeway also keep their latest time in a second
/// heap of plain numbers, so that a short sleep behind a long one is not fired up to the long one's leeway late.
struct TimerQueue {
  private var heap = Heap<TimerEntry>()
  /// The latest times of entries with less than the maximum leeway (some possibly fired or stale already: waking
  /// for one of those is harmless), dropped once they pass.
  private var preciseLatest = Heap<UInt64>()
  private var nextSequence: UInt64 = 0
  /// Entries in the heap whose purpose ended before their deadline.
  private var staleCount = 0

  /// Entries in the heap, live or stale, and precise latest times kept (for tests: stays O(live)).
  var storedEntries: Int { heap.count + preciseLatest.count }

  /// When the timer thread must wake next so that no entry fires later than its leeway allows (nil: no entry).
  /// Forgets the latest times of precise entries that are already past `now` (their entries are due, and fire
  /// at this wake-up).
  mutating func nextWake(now: UInt64) -> UInt64? {
    while let first = preciseLatest.min, first <= now { _ = preciseLatest.removeMin() }
    let coarse = heap.min?.latest
    guard let precise = preciseLatest.min else { return coarse }
    return min(coarse ?? .max, precise)
  }

  /// Adds a deadline that may fire up to `leeway` nanoseconds late.
  mutating func add(at deadline: UInt64, leeway: UInt64, _ kind: TimerEntry.Kind) {
    nextSequence &+= 1
    let entry = TimerEntry(deadline: deadline, leeway: leeway, sequence: nextSequence, kind: kind)
    heap.insert(entry)
    if leeway < TimerLeeway.maximum { preciseLatest.insert(entry.latest) }
  }

  /// Removes and returns the earliest entry due at `now` that is still live, skipping stale ones.
  mutating func popDue(now: UInt64) -> TimerEntry? {
    while let first = heap.min, first.deadline <= now {
      _ = heap.removeMin()
      if first.isStale {
        staleCount = max(0, staleCount - 1)
        continue
      }
      return first
    }
    return nil
  }

  /// Records that one stored entry went stale; compacts when stale entries outnumber live ones.
  mutating func noteStale() {
    staleCount += 1
    guard staleCount > heap.count / 2 + 32 else { return }
    heap = Heap(heap.unordered.filter { !$0.isStale })
    // The precise latest times of stale entries go too: each live precise entry gives its own back.
    preciseLatest = Heap(heap.unordered.lazy.filter { $0.leeway < TimerLeeway.maximum }.map(\.latest))
    staleCount = 0
  }
}

extension TimerEntry {
  /// True when what the entry was for already ended: the idle it would end is over, or the VM whose run
  /// timeout it is has finished.
  var isStale: Bool {
    switch kind {
    case .wake(let vm, let generation): vm.state != .idle || vm.idleGeneration != generation || !vm.hasWakeTimer
    case .timeout(let vm): vm.state == .finished
    }
  }
}
