// TCPHalfOpenTable.swift: passive opens between the peer's SYN and its ACK of our SYN-ACK (SYN-RECEIVED), in a
// fixed table: a SYN flood can fill it but never grow it (the oldest entry makes room for a new SYN).

/// One half-open passive connection: just enough to answer its ACK or send the SYN-ACK again.
struct TCPHalfOpen {
  var remoteAddress: UInt32
  var remotePort: UInt16
  var localPort: UInt16
  /// Peer's MSS option (0: none).
  var peerMSS: UInt16
  /// Peer's window in its SYN.
  var peerWindow: UInt16
  var retransmissions: UInt32
  var hopMAC: UInt64
  var iss: TCPSequence
  var irs: TCPSequence
  /// When the SYN-ACK is sent again (or the entry dropped).
  var deadline: UInt64
  /// When the first SYN-ACK was sent (a round-trip sample if it is never sent again).
  var created: UInt64
  /// The peer acknowledged our SYN-ACK while the connection table was full: the entry waits for room (the
  /// listen backlog), its ACK dropped; the peer's next segment at IRS + 1 completes it once there is room.
  var waiting = false
  /// When room last appeared for it and it was sent the SYN-ACK again to bring its ACK back (0: never).
  var promptedAt: UInt64 = 0
}

/// At most `capacity` half-open connections, unordered.
struct TCPHalfOpenTable {
  let capacity: Int
  private let entries: UnsafeMutablePointer<TCPHalfOpen>
  /// Entries in use: `0..<count`.
  private(set) var count = 0

  /// An empty table of `capacity` entries (allocated once, never freed: it lives as long as the stack).
  init(capacity: Int) {
    self.capacity = capacity
    entries = .allocate(capacity: capacity)
  }

  // SAFETY (every access below): indexes are below count <= capacity, the allocated size; entries below
  // count were initialized by add.
  /// The entry at `index` (below `count`).
  subscript(index: Int) -> TCPHalfOpen {
    get { entries[index] }
    nonmutating set { entries[index] = newValue }
  }

  /// The index of the entry for this peer and local port, or nil.
  func find(remote: UInt32, remotePort: UInt16, localPort: UInt16) -> Int? {
    var index = 0
    while index < count {
      let entry = entries[index]
      if entry.remoteAddress == remote && entry.remotePort == remotePort && entry.localPort == localPort {
        return index
      }
      index += 1
    }
    return nil
  }

  /// Adds `entry`; when full, it replaces the one created first, and the result says so.
  mutating func add(_ entry: TCPHalfOpen) -> (index: Int, replacedOldest: Bool) {
    if count < capacity {
      (entries + count).initialize(to: entry)
      count += 1
      return (count - 1, false)
    }
    var oldest = 0
    var index = 1
    while index < count {
      if entries[index].created < entries[oldest].created { oldest = index }
      index += 1
    }
    if entries[oldest].waiting { waitingCount -= 1 }
    entries[oldest] = entry
    return (oldest, true)
  }

  /// Removes the entry at `index` (the last one takes its place).
  mutating func remove(at index: Int) {
    if entries[index].waiting { waitingCount -= 1 }
    count -= 1
    if index != count { entries[index] = entries[count] }
  }

  /// Entries that wait for room in the connection table (`TCPHalfOpen.waiting`).
  private(set) var waitingCount = 0

  /// Marks the entry at `index` as waiting for room (once).
  mutating func markWaiting(at index: Int) {
    guard !entries[index].waiting else { return }
    entries[index].waiting = true
    waitingCount += 1
  }

  /// The waiting entry created first among those not prompted since `since`, or nil.
  func oldestWaiting(promptedBefore since: UInt64) -> Int? {
    var oldest: Int?
    var index = 0
    while index < count {
      let entry = entries[index]
      if entry.waiting && entry.promptedAt < since && (oldest.map { entry.created < entries[$0].created } ?? true) {
        oldest = index
      }
      index += 1
    }
    return oldest
  }

  /// The earliest deadline of any entry (`UInt64.max` when empty).
  var earliestDeadline: UInt64 {
    var earliest = UInt64.max
    var index = 0
    while index < count {
      if entries[index].deadline < earliest { earliest = entries[index].deadline }
      index += 1
    }
    return earliest
  }
}
