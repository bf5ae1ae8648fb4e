// VMJournalEntry.swift: one line of the VM journal, `CRC SPACE JSON\n`, and how it changes the VM table.
import CSwapSupport
import Foundation

/// One journal entry: a VM created, a VM ended, a full record (written by a rewrite), or the next id to give out
/// (written first by a rewrite, so ids of VMs already forgotten are never given again).
enum VMJournalEntry: Equatable, Sendable {
  /// A new VM.
  case created(VMRecord)
  /// A live VM ended, having used `usage` over its life.
  case ended(id: UInt64, end: VMEnd, at: Double, usage: VMUsage?)
  /// The whole record of a VM, as of a rewrite.
  case record(VMRecord)
  /// Every id below this one has been given out.
  case nextID(UInt64)

  /// The JSON object of a line: exactly one member is present.
  private struct Object: Codable {
    var created: VMRecord?
    var ended: Ended?
    var record: VMRecord?
    var nextID: UInt64?
  }

  /// The body of an `ended` entry.
  private struct Ended: Codable {
    var id: UInt64
    var end: VMEnd
    var at: Double
    var usage: VMUsage?
  }

  /// Applies the entry to `table` (VM id to record): created and record set the record; ended sets the end of
  /// a known VM and is ignored for an unknown one.
  func apply(to table: inout [UInt64: VMRecord]) {
    switch self {
    case .created(let record), .record(let record):
      table[record.id] = record
    case .ended(let id, let end, let at, let usage):
      guard var record = table[id] else { return }
      record.end = end
      record.endedAt = at
      if let usage { record.usage = usage }
      table[id] = record
    case .nextID: break
    }
  }

  /// The entry as one journal line: eight lowercase hex digits of the JSON's CRC-32C, a space, the compact
  /// JSON and a newline. Throws when a value cannot be encoded (a non-finite time, for example).
  func line() throws -> [UInt8] {
    let object =
      switch self {
      case .created(let record): Object(created: record)
      case .ended(let id, let end, let at, let usage): Object(ended: Ended(id: id, end: end, at: at, usage: usage))
      case .record(let record): Object(record: record)
      case .nextID(let id): Object(nextID: id)
      }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let json = [UInt8](try encoder.encode(object))
    var line = Array(Self.checksumText(of: json[...]).utf8)
    line.reserveCapacity(json.count + 10)
    line.append(0x20)
    line.append(contentsOf: json)
    line.append(0x0A)
    return line
  }

  /// Parses one line without its newline: the entry, or why the line cannot be used (a malformed or wrong
  /// checksum, JSON that does not decode to exactly one entry, or a record or end out of bounds).
  static func parse(_ line: ArraySlice<UInt8>) -> Result<VMJournalEntry, VMJournalLineError> {
    guard line.count > 9, line[line.startIndex + 8] == 0x20 else { return .failure(.malformed) }
    let checksum = line[line.startIndex..<line.startIndex + 8]
    let json = line[(line.startIndex + 9)...]
    guard let stored = UInt32(String(decoding: checksum, as: UTF8.self), radix: 16),
      checksum.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }),
      checksumMatches(stored, json.withUnsafeBytes { swap_crc32c(0, $0.baseAddress, $0.count) })
    else { return .failure(.checksumMismatch) }
    guard let object = try? JSONDecoder().decode(Object.self, from: Data(json)) else { return .failure(.undecodable) }
    if let id = object.nextID {
      guard object.created == nil, object.ended == nil, object.record == nil else { return .failure(.undecodable) }
      guard id >= 1, id <= VMRecord.maximumID + 1 else {
        return .failure(.outOfBounds("next id \(id) is out of range (1 to \(VMRecord.maximumID + 1))"))
      }
      return .success(.nextID(id))
    }
    switch (object.created, object.ended, object.record) {
    case (let record?, nil, nil), (nil, nil, let record?):
      if let problem = record.problem { return .failure(.outOfBounds(problem)) }
      return .success(object.created != nil ? .created(record) : .record(record))
    case (nil, let ended?, nil):
      guard VMRecord.timeRange.contains(ended.at) else {
        return .failure(.outOfBounds("vm \(ended.id): end time \(ended.at) is out of range"))
      }
      return .success(.ended(id: ended.id, end: ended.end, at: ended.at, usage: ended.usage))
    default: return .failure(.undecodable)
    }
  }

  /// The CRC-32C (start 0) of `bytes` as eight lowercase hex digits.
  static func checksumText(of bytes: ArraySlice<UInt8>) -> String {
    let crc = bytes.withUnsafeBytes { buffer in
      // SAFETY: the buffer is valid for buffer.count bytes for the duration of this closure.
      swap_crc32c(0, buffer.baseAddress, buffer.count)
    }
    let digits = String(crc, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
  }
}

/// Why one journal line was skipped.
enum VMJournalLineError: Error, Equatable, CustomStringConvertible {
  /// No eight-digit checksum and space at its start.
  case malformed
  /// The checksum does not match the JSON.
  case checksumMismatch
  /// The JSON is not exactly one entry.
  case undecodable
  /// Longer than `VMJournalReplay.maximumLineBytes` (its bytes were never held in memory).
  case tooLong
  /// The entry decodes but a number in it is out of bounds (the message says which).
  case outOfBounds(String)

  /// A short message.
  var description: String {
    switch self {
    case .malformed: "no checksum"
    case .checksumMismatch: "checksum mismatch"
    case .undecodable: "not a journal entry"
    case .tooLong: "longer than \(VMJournalReplay.maximumLineBytes) bytes"
    case .outOfBounds(let problem): problem
    }
  }
}
