// DeficitRoundRobin.swift: deficit round robin (Shreedhar and Varghese) over flows identified by a key.
import DequeModule

/// Chooses which flow sends next so that every backlogged flow gets the same bytes per round, whatever
/// its frame sizes or how fast it offers them. The caller keeps the frames; this keeps only the order and
/// each flow's deficit (bytes it may still send this turn).
struct DeficitRoundRobin<Key: Hashable> {
  /// Bytes a flow earns each turn; at least the largest frame, so every turn sends at least one frame.
  let quantum: Int
  private var ring = Deque<Key>()
  private var members = Set<Key>()
  private var deficits: [Key: Int] = [:]
  /// Whether the flow at the head of the ring has been given its quantum for its current turn.
  private var headCharged = false

  /// An empty schedule with `quantum` bytes per turn.
  init(quantum: Int) { self.quantum = max(1, quantum) }

  /// Number of flows waiting for a turn.
  var activeCount: Int { ring.count }
  /// Whether no flow is waiting.
  var isEmpty: Bool { ring.isEmpty }

  /// Adds `key` to the end of the round unless it is already in it.
  mutating func activate(_ key: Key) {
    guard members.insert(key).inserted else { return }
    ring.append(key)
  }

  /// The flow whose head frame goes next, given `headLength` (the length of a flow's head frame, or nil
  /// when it has nothing: it then leaves the round and loses its deficit). Calling it again without
  /// `charge` returns the same flow. Nil when no flow has anything to send.
  mutating func next(headLength: (Key) -> Int?) -> Key? {
    while let key = ring.first {
      guard let length = headLength(key) else {
        ring.removeFirst()
        members.remove(key)
        deficits[key] = nil
        headCharged = false
        continue
      }
      if !headCharged {
        deficits[key, default: 0] += quantum
        headCharged = true
      }
      if deficits[key, default: 0] >= length { return key }
      // Not enough credit left this turn: to the back of the round, keeping the deficit.
      ring.removeFirst()
      ring.append(key)
      headCharged = false
    }
    return nil
  }

  /// Records that `key` (just returned by `next`) sent `length` bytes.
  mutating func charge(_ key: Key, length: Int) {
    deficits[key, default: 0] -= length
  }

  /// Takes `key` out of the round (for example a port that is removed).
  mutating func remove(_ key: Key) {
    guard members.remove(key) != nil else { return }
    if ring.first == key { headCharged = false }
    ring.removeAll { $0 == key }
    deficits[key] = nil
  }
}
