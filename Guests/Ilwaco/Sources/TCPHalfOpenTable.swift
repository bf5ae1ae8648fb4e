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
      if entry.remoteAddress == remote && entry.remotePort == remotePort && entry.localPort == localPort { return index }
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
    entries[oldest] = entry
    return (oldest, true)
  }

  /// Removes the entry at `index` (the last one takes its place).
  mutating func remove(at index: Int) {
    count -= 1
    if index != count { entries[index] = entries[count] }
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
