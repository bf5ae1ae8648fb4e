// TCPSelfCheck.swift: checks of TCP's internal pieces that need no peer (sequence arithmetic across the wrap, the
// out-of-order queue, the rings, segment parsing and checksums, the RTO estimator, SipHash, the half-open table's
// backlog bookkeeping), run by the tcp-check
// guest. Only a guest that calls it carries it (the linker drops unused sections).

/// Runs the checks of TCP's internal pieces.
public enum TCPSelfCheck {
  /// Nil when every check passes, else what failed.
  public static func run() -> StaticString? {
    if let failure = sequences() { return failure }
    if let failure = reassembly() { return failure }
    if let failure = rings() { return failure }
    if let failure = checksums() { return failure }
    if let failure = segments() { return failure }
    if let failure = retransmissionTimeouts() { return failure }
    if let failure = sipHash() { return failure }
    if let failure = halfOpenBacklog() { return failure }
    return nil
  }

  /// The half-open table's waiting entries (the listen backlog): counted once, uncounted when removed or replaced,
  /// and the oldest not prompted since a time found first.
  private static func halfOpenBacklog() -> StaticString? {
    var table = TCPHalfOpenTable(capacity: 3)
    for created in [30, 10, 20] as [UInt64] {
      _ = table.add(
        TCPHalfOpen(
          remoteAddress: UInt32(created), remotePort: 1, localPort: 80, peerMSS: 0, peerWindow: 0, retransmissions: 0,
          hopMAC: 0, iss: TCPSequence(0), irs: TCPSequence(0), deadline: created, created: created))
    }
    guard table.oldestWaiting(promptedBefore: .max) == nil else { return "backlog: nothing waits at first" }
    table.markWaiting(at: 0)
    table.markWaiting(at: 0)
    table.markWaiting(at: 2)
    guard table.waitingCount == 2, table.oldestWaiting(promptedBefore: .max) == 2 else {
      return "backlog: waiting entries counted once, the oldest first"
    }
    var entry = table[2]
    entry.promptedAt = 50
    table[2] = entry
    guard table.oldestWaiting(promptedBefore: 50) == 0, table.oldestWaiting(promptedBefore: 51) == 2 else {
      return "backlog: a prompted entry waits its turn"
    }
    // A new SYN to the full table replaces the oldest entry (created 10, not waiting), then the next (20, waiting).
    let newer = TCPHalfOpen(
      remoteAddress: 99, remotePort: 1, localPort: 80, peerMSS: 0, peerWindow: 0, retransmissions: 0, hopMAC: 0,
      iss: TCPSequence(0), irs: TCPSequence(0), deadline: 99, created: 99)
    guard table.add(newer).index == 1, table.waitingCount == 2, table.add(newer).index == 2, table.waitingCount == 1
    else {
      return "backlog: replacing the oldest entry"
    }
    table.remove(at: 0)
    guard table.waitingCount == 0, table.count == 2 else { return "backlog: removing a waiting entry" }
    return nil
  }

  private static func sequences() -> StaticString? {
    let high = TCPSequence(0xFFFF_FFF0)
    let low = TCPSequence(0x10)
    guard high < low, low > high, high <= high, !(low < high), low - high == 0x20, high + 0x20 == low,
      low - 0x20 == high, (high + 0x30).value == 0x20
    else { return "sequence comparison across the wrap" }
    guard TCPSequence(5).isIn(start: high, count: 0x20), !low.isIn(start: high, count: 0x20),
      high.isIn(start: high, count: 1), !high.isIn(start: high, count: 0)
    else { return "sequence ranges across the wrap" }
    // Numbers 2^31 - 1 apart still compare; the latest of two is the one ahead.
    guard TCPSequence(0) < TCPSequence(0x7FFF_FFFF), TCPSequence.latest(high, low) == low else {
      return "sequence ordering at half the space"
    }
    return nil
  }

  private static func reassembly() -> StaticString? {
    let bounds = UnsafeMutablePointer<UInt32>.allocate(capacity: 2 * TCPReassemblyQueue.capacity)
    defer { bounds.deallocate() }
    var queue = TCPReassemblyQueue(bounds: bounds)
    let base = TCPSequence(0xFFFF_FF00)  // ranges cross the wrap
    guard queue.insert(start: base + 300, end: base + 400), queue.insert(start: base + 100, end: base + 200),
      queue.insert(start: base + 200, end: base + 250), queue.count == 2
    else { return "reassembly: touching ranges merge" }
    guard queue.insert(start: base + 240, end: base + 310), queue.count == 1 else {
      return "reassembly: a range bridging two merges them"
    }
    guard queue.advance(base + 50) == base + 50, queue.count == 1 else { return "reassembly: a gap stays" }
    guard queue.advance(base + 100) == base + 400, queue.isEmpty else { return "reassembly: a filled gap advances" }
    // Fill every slot with disjoint ranges; one more disjoint range is refused, one touching a range is taken.
    for index in 0..<TCPReassemblyQueue.capacity {
      let start = base + UInt32(1000 + 100 * index)
      guard queue.insert(start: start, end: start + 10) else { return "reassembly: ranges up to capacity" }
    }
    guard !queue.insert(start: base + 5000, end: base + 5010), queue.count == TCPReassemblyQueue.capacity else {
      return "reassembly: a range beyond capacity"
    }
    guard queue.insert(start: base + 1010, end: base + 1050), queue.count == TCPReassemblyQueue.capacity else {
      return "reassembly: extending a range at capacity"
    }
    guard queue.advance(base + 1000) == base + 1050, queue.count == TCPReassemblyQueue.capacity - 1 else {
      return "reassembly: advancing over the first range"
    }
    return nil
  }

  private static func rings() -> StaticString? {
    let storage = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
    let source = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
    let copy = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
    defer {
      storage.deallocate()
      source.deallocate()
      copy.deallocate()
    }
    for index in 0..<64 { source.storeBytes(of: UInt8(index), toByteOffset: index, as: UInt8.self) }
    let ring = TCPRingBuffer(storage: storage, capacity: 64)
    let start = TCPSequence(0xFFFF_FFE0 + 10)  // place 42: wraps after 22 bytes
    ring.store(at: start, from: source, count: 40)
    ring.load(at: start, into: copy, count: 40)
    guard memcmp(source, copy, 40) == 0 else { return "ring: bytes across its end" }
    guard ring.contiguous(at: start, count: 40).count == 22, storage.load(fromByteOffset: 0, as: UInt8.self) == 22
    else {
      return "ring: contiguous part and placement by sequence number"
    }
    return nil
  }

  /// The Internet checksum the slow way, one 16-bit word at a time, for comparison.
  private static func referenceSum(_ data: UnsafeRawPointer, _ count: Int) -> UInt16 {
    var sum: UInt32 = 0
    var index = 0
    while index + 1 < count {
      sum +=
        UInt32(data.load(fromByteOffset: index, as: UInt8.self))
        | UInt32(data.load(fromByteOffset: index + 1, as: UInt8.self)) << 8
      index += 2
    }
    if index < count { sum += UInt32(data.load(fromByteOffset: index, as: UInt8.self)) }
    while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
    return ~UInt16(truncatingIfNeeded: sum)
  }

  private static func checksums() -> StaticString? {
    let data = UnsafeMutableRawPointer.allocate(byteCount: 200, alignment: 16)
    defer { data.deallocate() }
    var value: UInt64 = 0x0123_4567_89AB_CDEF
    for index in 0..<200 {
      value = value &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      data.storeBytes(of: UInt8(truncatingIfNeeded: value >> 56), toByteOffset: index, as: UInt8.self)
    }
    // Every length and alignment the blocks, words and tail of ilwaco_checksum_add meet, whole and in two pieces.
    for offset in 0..<8 {
      for count in 0...150 {
        let expected = referenceSum(data + offset, count)
        guard ilwaco_checksum_finish(ilwaco_checksum_add(data + offset, count, 0)) == expected else {
          return "checksum: one piece"
        }
        let split = (count / 3) & ~1
        let partial = ilwaco_checksum_add(data + offset, split, 0)
        guard ilwaco_checksum_finish(ilwaco_checksum_add(data + offset + split, count - split, partial)) == expected
        else {
          return "checksum: two pieces"
        }
      }
    }
    return nil
  }

  private static func segments() -> StaticString? {
    // A frame: Ethernet, IPv4 (addresses 10.0.0.1 -> 10.0.0.2), TCP SYN with NOP, NOP, MSS 1200, WS; 4 bytes of data.
    let frame = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 16)
    defer { frame.deallocate() }
    frame.initializeMemory(as: UInt8.self, repeating: 0, count: 128)
    frame.storeBytes(of: UInt32(0x0A00_0001).bigEndian, toByteOffset: 26, as: UInt32.self)
    frame.storeBytes(of: UInt32(0x0A00_0002).bigEndian, toByteOffset: 30, as: UInt32.self)
    let tcp = frame + 34
    tcp.storeBytes(of: UInt16(40000).bigEndian, toByteOffset: 0, as: UInt16.self)
    tcp.storeBytes(of: UInt16(80).bigEndian, toByteOffset: 2, as: UInt16.self)
    tcp.storeBytes(of: UInt32(0xFFFF_FFFF).bigEndian, toByteOffset: 4, as: UInt32.self)
    tcp.storeBytes(of: UInt8(8 << 4), toByteOffset: 12, as: UInt8.self)  // 32-byte header
    tcp.storeBytes(of: TCPFlags.syn, toByteOffset: 13, as: UInt8.self)
    tcp.storeBytes(of: UInt16(5000).bigEndian, toByteOffset: 14, as: UInt16.self)
    let options: [UInt8] = [1, 1, 2, 4, 0x04, 0xB0, 3, 3, 7, 0, 0, 0]
    for (index, byte) in options.enumerated() { tcp.storeBytes(of: byte, toByteOffset: 20 + index, as: UInt8.self) }
    for index in 0..<4 { tcp.storeBytes(of: UInt8(0x61 + index), toByteOffset: 32 + index, as: UInt8.self) }
    let length = 36
    var sum = ilwaco_checksum_add(frame + 26, 8, 0)
    sum &+= UInt64(UInt16(6).bigEndian) &+ UInt64(UInt16(length).bigEndian)
    tcp.storeBytes(of: ilwaco_checksum_finish(ilwaco_checksum_add(tcp, length, sum)), toByteOffset: 16, as: UInt16.self)
    guard let segment = TCPSegment.parse(frame, at: 34, length: length) else { return "segment: a valid one parses" }
    guard segment.sourcePort == 40000, segment.destinationPort == 80, segment.window == 5000,
      segment.maximumSegmentSize == 1200, segment.payloadLength == 4, segment.sequenceLength == 5,
      segment.end == TCPSequence(4), segment.payload.load(as: UInt8.self) == 0x61
    else { return "segment: its fields" }
    tcp.storeBytes(of: UInt8(0x62), toByteOffset: 35, as: UInt8.self)
    guard TCPSegment.parse(frame, at: 34, length: length) == nil else { return "segment: a bad checksum is refused" }
    tcp.storeBytes(of: UInt8(0x64), toByteOffset: 35, as: UInt8.self)
    guard TCPSegment.parse(frame, at: 34, length: 19) == nil else { return "segment: a short header is refused" }
    // An option with length 0 must end option parsing (no endless loop), leaving no MSS.
    tcp.storeBytes(of: UInt8(0), toByteOffset: 23, as: UInt8.self)
    tcp.storeBytes(of: UInt16(0), toByteOffset: 16, as: UInt16.self)
    tcp.storeBytes(of: ilwaco_checksum_finish(ilwaco_checksum_add(tcp, length, sum)), toByteOffset: 16, as: UInt16.self)
    guard let odd = TCPSegment.parse(frame, at: 34, length: length), odd.maximumSegmentSize == 0 else {
      return "segment: a zero-length option"
    }
    return nil
  }

  private static func retransmissionTimeouts() -> StaticString? {
    var rto = TCPRetransmissionTimeout(minimum: 200_000_000)
    guard rto.current == 1_000_000_000 else { return "RTO: one second before any sample" }
    rto.sample(100_000_000)  // SRTT 100 ms, RTTVAR 50 ms: RTO 300 ms
    guard rto.smoothed == 100_000_000, rto.variation == 50_000_000, rto.current == 300_000_000 else {
      return "RTO: the first sample"
    }
    rto.sample(100_000_000)  // RTTVAR 37.5 ms: RTO 250 ms
    guard rto.current == 250_000_000 else { return "RTO: a second sample" }
    rto.sample(1_000_000)  // tiny samples never go below the minimum
    rto.sample(1_000_000)
    rto.sample(1_000_000)
    rto.sample(1_000_000)
    guard rto.current >= 200_000_000 else { return "RTO: the lower bound" }
    for _ in 0..<20 { rto.backOff() }
    guard rto.current == TCPRetransmissionTimeout.maximum else { return "RTO: backoff stops at 60 s" }
    return nil
  }

  private static func sipHash() -> StaticString? {
    // The reference vectors: key 00..0f; message empty, and 00..0f.
    var empty = SipHash(key0: 0x0706_0504_0302_0100, key1: 0x0F0E_0D0C_0B0A_0908)
    guard empty.finalize() == 0x726F_DB47_DD0E_0E31 else { return "SipHash: empty message" }
    empty.combine(0x0706_0504_0302_0100)
    empty.combine(0x0F0E_0D0C_0B0A_0908)
    guard empty.finalize() == 0x3F2A_CC7F_57C2_9BDB else { return "SipHash: 16-byte message" }
    return nil
  }
}
