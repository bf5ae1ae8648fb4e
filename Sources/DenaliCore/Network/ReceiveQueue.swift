// ReceiveQueue.swift: a VM's bounded receive queue: one FIFO per sender, served by deficit round robin.
import DequeModule

/// Frames waiting for one VM to receive them. Each sender has its own FIFO and the guest takes frames
/// from them in deficit round robin, so a flooding sender delays another sender's frames by at most one
/// round. When the queue is full, the frame that goes is the newest of the longest FIFO (the flooder's):
/// a sender with few frames queued never loses them to one with many.
struct ReceiveQueue {
  /// What became of a frame offered to the queue.
  enum Admission: Equatable {
    /// Queued; `wasEmpty` when the queue had nothing before (the VM should be told).
    case queued(wasEmpty: Bool)
    /// Queued after dropping another sender's newest frame (of `bytes`) to make room.
    case queuedDisplacing(source: UInt64, bytes: Int)
    /// Refused: the queue is full and this sender already has the most frames queued.
    case dropped
  }

  /// Most frames held at once.
  let capacity: Int
  /// Frames held now.
  private(set) var count = 0
  /// Bytes held now.
  private(set) var byteCount = 0
  private var flows: [UInt64: Deque<[UInt8]>] = [:]
  private var schedule: DeficitRoundRobin<UInt64>

  /// An empty queue of `capacity` frames (at least 1), with `quantum` bytes per sender per round.
  init(capacity: Int, quantum: Int) {
    self.capacity = max(1, capacity)
    schedule = DeficitRoundRobin(quantum: quantum)
  }

  /// Whether no frame is waiting.
  var isEmpty: Bool { count == 0 }

  /// Offers `frame` from sender `source`.
  mutating func enqueue(_ frame: [UInt8], from source: UInt64) -> Admission {
    var displaced: (source: UInt64, bytes: Int)?
    if count >= capacity {
      guard let (longest, length) = longestFlow(), length > flows[source]?.count ?? 0, longest != source else {
        return .dropped
      }
      if let victim = flows[longest]?.popLast() {
        count -= 1
        byteCount -= victim.count
        displaced = (longest, victim.count)
        if flows[longest]?.isEmpty == true { flows[longest] = nil }
      }
    }
    let wasEmpty = count == 0
    flows[source, default: []].append(frame)
    count += 1
    byteCount += frame.count
    schedule.activate(source)
    if let displaced { return .queuedDisplacing(source: displaced.source, bytes: displaced.bytes) }
    return .queued(wasEmpty: wasEmpty)
  }

  /// Length of the frame `dequeue` would return next; nil when empty.
  mutating func nextLength() -> Int? {
    guard let source = schedule.next(headLength: { flows[$0]?.first?.count }) else { return nil }
    return flows[source]?.first?.count
  }

  /// Removes and returns the next frame in deficit-round-robin order; nil when empty.
  mutating func dequeue() -> [UInt8]? {
    guard let source = schedule.next(headLength: { flows[$0]?.first?.count }),
      let frame = flows[source]?.popFirst()
    else { return nil }
    schedule.charge(source, length: frame.count)
    if flows[source]?.isEmpty == true { flows[source] = nil }
    count -= 1
    byteCount -= frame.count
    return frame
  }

  /// Drops every frame; returns the bytes they held.
  mutating func removeAll() -> Int {
    let bytes = byteCount
    flows.removeAll()
    schedule = DeficitRoundRobin(quantum: schedule.quantum)
    count = 0
    byteCount = 0
    return bytes
  }

  /// The sender with the most frames queued, and that number.
  private func longestFlow() -> (UInt64, Int)? {
    var best: (UInt64, Int)?
    for (source, frames) in flows where frames.count > (best?.1 ?? 0) { best = (source, frames.count) }
    return best
  }
}
