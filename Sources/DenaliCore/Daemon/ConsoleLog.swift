// ConsoleLog.swift: one VM's console output as the daemon keeps it: the last few KiB, sanitised, with followers.

/// A bounded, thread-safe record of a VM's console output.
///
/// It keeps the last `capacity` bytes (storage grows as the guest writes, so a quiet VM costs almost nothing)
/// with terminal control bytes replaced, and hands every new write to its followers. The guest writes from a
/// worker thread; readers and followers may be on any thread.
public final class ConsoleLog: Sendable {
  /// What a follower receives.
  public enum Event: Equatable, Sendable {
    /// Console bytes (the first event carries the requested tail, possibly empty).
    case output([UInt8])
    /// The VM finished; nothing follows.
    case ended
  }

  /// A live follower; cancel it when its reader goes away.
  public final class Subscription: Sendable {
    private let log: ConsoleLog
    private let id: UInt64

    fileprivate init(log: ConsoleLog, id: UInt64) {
      self.log = log
      self.id = id
    }

    /// Stops delivery; once this returns the handler is not called again. Must not be called from the handler.
    public func cancel() { log.removeFollower(id) }
  }

  private struct State {
    var capacity: Int
    /// The kept bytes; once `capacity` is reached, a ring whose oldest byte is at `head`.
    var bytes: [UInt8] = []
    var head = 0
    var totalBytes: UInt64 = 0
    var closed = false
    var nextFollower: UInt64 = 0
    var followers: [(id: UInt64, handler: @Sendable (Event) -> Void)] = []

    /// The kept bytes, oldest first.
    var linear: [UInt8] {
      head == 0 ? bytes : Array(bytes[head...] + bytes[..<head])
    }

    mutating func append(_ byte: UInt8) {
      if bytes.count < capacity {
        bytes.append(byte)
      } else {
        bytes[head] = byte
        head = head + 1 == capacity ? 0 : head + 1
      }
    }
  }

  private let state: Locked<State>

  /// A log keeping at most `capacity` bytes, starting with `initial` (a log saved before a restart).
  public init(capacity: Int, initial: [UInt8] = []) {
    var state = State(capacity: max(1, capacity))
    for byte in initial.suffix(state.capacity) { state.append(byte) }
    self.state = Locked(state)
  }

  /// The byte kept for `byte`: printable ASCII, newline, tab and bytes of multi-byte UTF-8 sequences stay;
  /// carriage returns are dropped (nil); other control bytes (escape sequences, bells, ...) become `?`.
  static func sanitised(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x0A, 0x09, 0x20...0x7E, 0x80...0xFF: byte
    case 0x0D: nil
    default: UInt8(ascii: "?")
    }
  }

  /// Records a console write and passes it, sanitised, to every follower.
  public func append(_ raw: UnsafeRawBufferPointer) {
    guard !raw.isEmpty else { return }
    var clean: [UInt8] = []
    clean.reserveCapacity(raw.count)
    for byte in raw { if let kept = Self.sanitised(byte) { clean.append(kept) } }
    state.withLock { state in
      guard !state.closed else { return }
      state.totalBytes &+= UInt64(clean.count)
      for byte in clean.suffix(state.capacity) { state.append(byte) }
      for follower in state.followers { follower.handler(.output(clean)) }
    }
  }

  /// The last `lines` lines kept (0: everything kept). A final line without a newline counts as a line.
  public func tail(lines: Int) -> [UInt8] {
    state.withLock { Self.tail(of: $0.linear, lines: lines) }
  }

  /// Everything kept, oldest first.
  public var contents: [UInt8] { state.withLock { $0.linear } }

  /// Bytes the guest has written since the log was created (sanitised; more than are kept once it wrapped).
  public var totalBytes: UInt64 { state.withLock { $0.totalBytes } }

  /// True once `close()` was called.
  public var isClosed: Bool { state.withLock { $0.closed } }

  /// Follows the log: `handler` gets the last `tailLines` lines (0: all kept) at once, then every new write,
  /// then `.ended` when the log closes (at once if it has). Calls are serialised, in order, and made with the
  /// log's lock held: the handler must not block or call the log.
  public func subscribe(tailLines: Int, handler: @escaping @Sendable (Event) -> Void) -> Subscription {
    state.withLock { state in
      let id = state.nextFollower
      state.nextFollower &+= 1
      handler(.output(Self.tail(of: state.linear, lines: tailLines)))
      if state.closed {
        handler(.ended)
      } else {
        state.followers.append((id, handler))
      }
      return Subscription(log: self, id: id)
    }
  }

  /// The VM finished: followers get `.ended` and are dropped; later writes are ignored.
  public func close() {
    state.withLock { state in
      guard !state.closed else { return }
      state.closed = true
      for follower in state.followers { follower.handler(.ended) }
      state.followers = []
    }
  }

  private func removeFollower(_ id: UInt64) {
    state.withLock { state in state.followers.removeAll { $0.id == id } }
  }

  /// The suffix of `bytes` holding its last `lines` lines.
  static func tail(of bytes: [UInt8], lines: Int) -> [UInt8] {
    guard lines > 0, !bytes.isEmpty else { return bytes }
    var seen = 0
    var index = bytes.count - 1
    // A trailing newline ends the last line; it does not start another.
    if bytes[index] == 0x0A { index -= 1 }
    while index >= 0 {
      if bytes[index] == 0x0A {
        seen += 1
        if seen == lines { return Array(bytes[(index + 1)...]) }
      }
      index -= 1
    }
    return bytes
  }
}
