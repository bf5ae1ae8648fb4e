// VMJournalReplay.swift: replaying the VM journal's lines into the VM table, line by line, in bounded memory:
// a torn, corrupt or out-of-bounds line is skipped with its reason, and replay goes on with the next.
import Glibc

/// The result of replaying a journal's bytes.
struct VMJournalReplay: Equatable {
  /// The longest line replayed: a rewrite's record with the largest console (1 MiB, base64) and arguments fits
  /// with room; a longer line is skipped without being held in memory.
  static let maximumLineBytes = 4 << 20
  /// Reasons kept for the log (the count of skipped lines is always exact).
  static let maximumReasons = 20

  /// The VM table, by id.
  var table: [UInt64: VMRecord] = [:]
  /// The lowest id never given out: above every id recorded, and at least the last rewrite's `nextID` entry.
  var nextID: UInt64 = 1
  /// Lines skipped: torn, failing their checksum, not decoding, too long or out of bounds.
  var skipped = 0
  /// Why the first `maximumReasons` skipped lines were skipped ("line N: reason").
  var reasons: [String] = []
  /// Bytes up to the end of the last newline-terminated line (a torn tail starts here).
  var completeLength = 0

  /// The line being gathered across chunks, and whether it is being discarded (it grew too long).
  private var pending: [UInt8] = []
  private var discarding = false
  private var lineNumber = 0

  /// An empty replay; feed it with `consume` and end it with `finish`.
  init() {}

  /// Replays `bytes` line by line.
  init(_ bytes: [UInt8]) {
    self.init()
    consume(bytes[...])
    finish()
  }

  /// Replays the file open at `fd` from offset 0, reading it in chunks; nil with errno set when a read fails.
  static func read(_ fd: Int32) -> VMJournalReplay? {
    var replay = VMJournalReplay()
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    var offset: off_t = 0
    while true {
      let count = chunk.withUnsafeMutableBytes { buffer in
        // SAFETY: the read stays inside the chunk's buffer.
        pread(fd, buffer.baseAddress, buffer.count, offset)
      }
      if count < 0 && errno == EINTR { continue }
      guard count >= 0 else { return nil }
      if count == 0 { break }
      replay.consume(chunk[..<count])
      offset += off_t(count)
    }
    replay.finish()
    return replay
  }

  /// Replays the complete lines in `bytes` (the next part of the file); a line's start may wait for the next call.
  mutating func consume(_ bytes: ArraySlice<UInt8>) {
    var start = bytes.startIndex
    while start < bytes.endIndex {
      guard let newline = bytes[start...].firstIndex(of: 0x0A) else {
        gather(bytes[start...])
        return
      }
      gather(bytes[start..<newline])
      lineNumber += 1
      if discarding {
        skip(.tooLong)
      } else {
        switch VMJournalEntry.parse(pending[...]) {
        case .success(let entry):
          entry.apply(to: &table)
          switch entry {
          case .created(let record), .record(let record): nextID = max(nextID, record.id + 1)
          case .nextID(let id): nextID = max(nextID, id)
          case .ended: break
          }
        case .failure(let error): skip(error)
        }
      }
      completeLength += pending.count + discardedBytes + 1
      discardedBytes = 0
      pending.removeAll(keepingCapacity: pending.count <= 64 << 10)
      discarding = false
      start = newline + 1
    }
  }

  /// Bytes of the current line that were dropped because it grew too long.
  private var discardedBytes = 0

  /// Ends the replay: an unterminated last line is torn (the write that made it never finished).
  mutating func finish() {
    guard !pending.isEmpty || discarding else { return }
    lineNumber += 1
    skip(nil)
    pending = []
    discarding = false
    discardedBytes = 0
  }

  /// Adds part of a line, or drops it once the line is longer than the maximum.
  private mutating func gather(_ part: ArraySlice<UInt8>) {
    if discarding {
      discardedBytes += part.count
    } else if pending.count + part.count > Self.maximumLineBytes {
      discardedBytes = pending.count + part.count
      pending = []
      discarding = true
    } else {
      pending.append(contentsOf: part)
    }
  }

  /// Counts a skipped line and keeps its reason (nil: a torn last line).
  private mutating func skip(_ error: VMJournalLineError?) {
    skipped += 1
    if reasons.count < Self.maximumReasons {
      reasons.append("line \(lineNumber): \(error.map { "\($0)" } ?? "torn (no newline)")")
    }
  }

  static func == (lhs: VMJournalReplay, rhs: VMJournalReplay) -> Bool {
    lhs.table == rhs.table && lhs.nextID == rhs.nextID && lhs.skipped == rhs.skipped
      && lhs.completeLength == rhs.completeLength
  }
}
