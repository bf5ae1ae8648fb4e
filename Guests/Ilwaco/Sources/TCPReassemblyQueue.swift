// TCPReassemblyQueue.swift: the out-of-order queue of a connection: which ranges of sequence space beyond
// RCV.NXT have arrived. The bytes themselves are already in place in the receive ring; this only remembers
// where, in a fixed number of ranges (a segment that would need one more range is dropped, and resent later).

/// Up to `capacity` disjoint, sorted, non-adjacent ranges `[start, end)` of sequence space.
struct TCPReassemblyQueue {
  /// Ranges it holds at most.
  static let capacity = 8
  /// start0, end0, start1, end1, ...: `2 * capacity` values the connection owns.
  private let bounds: UnsafeMutablePointer<UInt32>
  /// Ranges held.
  private(set) var count = 0

  /// An empty queue over `bounds` (room for `2 * capacity` values).
  init(bounds: UnsafeMutablePointer<UInt32>) { self.bounds = bounds }

  /// Whether no range is held.
  var isEmpty: Bool { count == 0 }

  // SAFETY (every access below): indexes are below 2 * count <= 2 * capacity, the size of `bounds`.
  private func start(_ index: Int) -> TCPSequence { TCPSequence(bounds[2 * index]) }
  private func end(_ index: Int) -> TCPSequence { TCPSequence(bounds[2 * index + 1]) }

  /// Records that `[start, end)` arrived; false when it would need a range beyond `capacity` (then nothing changes).
  mutating func insert(start: TCPSequence, end: TCPSequence) -> Bool {
    var newStart = start
    var newEnd = end
    // The first range that ends at or after the new start (touching or overlapping, or after it).
    var first = 0
    while first < count && self.end(first) < newStart { first += 1 }
    // Ranges from `first` that start at or before the new end overlap or touch it: merge them.
    var last = first
    while last < count && self.start(last) <= newEnd {
      newStart = self.start(last) < newStart ? self.start(last) : newStart
      newEnd = TCPSequence.latest(self.end(last), newEnd)
      last += 1
    }
    let merged = last - first
    if merged == 0 && count == Self.capacity { return false }
    // Replace ranges first..<last by the one new range.
    let shift = 1 - merged
    if shift != 0 { move(from: last, by: shift) }
    bounds[2 * first] = newStart.value
    bounds[2 * first + 1] = newEnd.value
    count += shift
    return true
  }

  /// Removes the ranges that begin at or before `next` (RCV.NXT after in-order data) and returns RCV.NXT
  /// advanced past everything contiguous with it.
  mutating func advance(_ next: TCPSequence) -> TCPSequence {
    var result = next
    var taken = 0
    while taken < count && start(taken) <= result {
      result = TCPSequence.latest(end(taken), result)
      taken += 1
    }
    if taken > 0 { move(from: taken, by: -taken) }
    count -= taken
    return result
  }

  /// Forgets every range.
  mutating func removeAll() { count = 0 }

  /// Moves ranges `index..<count` by `offset` places (within capacity).
  private func move(from index: Int, by offset: Int) {
    guard index < count else { return }
    // SAFETY: source index..<count and destination index+offset..<count+offset are both within capacity
    // (callers keep count + offset <= capacity and index + offset >= 0).
    (bounds + 2 * (index + offset)).update(from: bounds + 2 * index, count: 2 * (count - index))
  }
}
