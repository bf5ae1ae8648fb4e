// TCPRingBuffer.swift: a connection's send or receive bytes: a power-of-two ring addressed by sequence number, so
// a byte's place never changes between its arrival (or write) and its removal, in order or not.

/// A ring of `capacity` bytes (a power of two) in memory the connection owns. The byte with sequence number `s`
/// lives at `s mod capacity`; the connection keeps the live range shorter than `capacity`.
struct TCPRingBuffer {
  let storage: UnsafeMutableRawPointer
  let capacity: Int
  private let mask: UInt32

  /// A ring over `capacity` bytes at `storage` (capacity a power of two, at most 2^31).
  init(storage: UnsafeMutableRawPointer, capacity: Int) {
    self.storage = storage
    self.capacity = capacity
    mask = UInt32(truncatingIfNeeded: capacity - 1)
  }

  /// Copies `count` bytes (at most `capacity`) from `source` to the ring, starting at `sequence`'s place.
  func store(at sequence: TCPSequence, from source: UnsafeRawPointer, count: Int) {
    let start = Int(sequence.value & mask)
    let first = min(count, capacity - start)
    // SAFETY: start < capacity and first <= capacity - start; the rest (count - first <= capacity) goes to
    // the front. The source holds `count` bytes (the caller's).
    (storage + start).copyMemory(from: source, byteCount: first)
    if count > first { storage.copyMemory(from: source + first, byteCount: count - first) }
  }

  /// Copies `count` bytes (at most `capacity`) from the ring, starting at `sequence`'s place, to `destination`.
  func load(at sequence: TCPSequence, into destination: UnsafeMutableRawPointer, count: Int) {
    let start = Int(sequence.value & mask)
    let first = min(count, capacity - start)
    // SAFETY: as in store; the destination holds `count` bytes (the caller's).
    destination.copyMemory(from: storage + start, byteCount: first)
    if count > first { (destination + first).copyMemory(from: storage, byteCount: count - first) }
  }

  /// The contiguous bytes from `sequence`'s place, at most `count` (the rest, if any, starts at the ring's front).
  func contiguous(at sequence: TCPSequence, count: Int) -> UnsafeRawBufferPointer {
    let start = Int(sequence.value & mask)
    // SAFETY: start < capacity, and the length is at most capacity - start.
    return UnsafeRawBufferPointer(start: storage + start, count: min(count, capacity - start))
  }
}
