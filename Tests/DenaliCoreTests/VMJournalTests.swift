// VMJournalTests.swift: the VM journal on real files: round trips, reopening, torn and corrupt lines, rewrites,
// base64 consoles, appends from several threads, and a full disk (a tiny tmpfs) that loses nothing.
// Addresses here (10.0.0.x) are only fields of journal records: no packet is sent, no namespace is needed.
import Foundation
import Testing

@testable import DenaliCore

@Suite("VM journal")
struct VMJournalTests {
  /// A fresh directory under /tmp for one test, removed afterwards by the caller.
  func makeDirectory() throws -> String {
    let path = "/tmp/denali-journal-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// A live record with distinguishable fields.
  func record(_ id: UInt64, console: [UInt8] = []) -> VMRecord {
    VMRecord(
      id: id, name: id % 2 == 0 ? "vm-\(id)" : nil, imagePath: "/images/guest \(id).elf",
      imageKey: "00000000000000\(id % 10)a-4096", memorySize: 2 << 20, diskSize: id % 3 == 0 ? 1 << 20 : nil,
      arguments: ["interval-ms=\(id)", "a \"quoted\" arg\nwith a newline"], createdAt: 1_700_000_000.5 + Double(id),
      console: console)
  }

  /// The journal file's bytes.
  func contents(_ directory: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/vms.journal")))
  }

  /// Replaces the journal file's bytes.
  func setContents(_ directory: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: directory + "/vms.journal"))
  }

  @Test("created and ended records round-trip through a reopen; an end for an unknown id is ignored")
  func roundTrip() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let journal = try VMJournal(directory: directory)
    #expect(journal.recovered.isEmpty)
    #expect(journal.skippedEntries == 0)
    try journal.recordCreated([record(3), record(1), record(2)])
    try journal.recordEnded(id: 1, end: .exited(status: 7), at: 1_700_000_100.25)
    try journal.recordEnded(id: 2, end: .faulted(description: "invalid opcode (#UD) at 0x100010"), at: 1_700_000_101)
    try journal.recordEnded(id: 3, end: .killed, at: 1_700_000_102)
    try journal.recordEnded(id: 99, end: .timedOut, at: 1_700_000_103)
    journal.close()

    let reopened = try VMJournal(directory: directory)
    defer { reopened.close() }
    var expected = [record(1), record(2), record(3)]
    expected[0].end = .exited(status: 7)
    expected[0].endedAt = 1_700_000_100.25
    expected[1].end = .faulted(description: "invalid opcode (#UD) at 0x100010")
    expected[1].endedAt = 1_700_000_101
    expected[2].end = .killed
    expected[2].endedAt = 1_700_000_102
    #expect(reopened.recovered == expected)
    #expect(reopened.skippedEntries == 0)

    // Every line is `CRC SPACE JSON`: eight lowercase hex digits of the JSON's CRC-32C.
    let lines = String(decoding: try contents(directory), as: UTF8.self).split(separator: "\n")
    #expect(lines.count == 7)
    for line in lines {
      let json = Array(line.utf8.dropFirst(9))
      #expect(String(line.prefix(9)) == VMJournalEntry.checksumText(of: json[...]) + " ")
    }
    #expect(lines[0].contains(#"{"created":{"#))
    #expect(lines[3].contains(#"{"ended":{"#))
  }

  @Test("appends after a reopen go on where the file ended; a reopen sees every session's entries")
  func reopenAfterAppends() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    for session in 0..<3 {
      let journal = try VMJournal(directory: directory)
      #expect(journal.recovered.map(\.id) == (0..<UInt64(session * 2)).map { $0 })
      #expect(journal.recovered.filter { $0.end != nil }.map(\.id) == (0..<session).map { UInt64($0 * 2) })
      try journal.recordCreated([record(UInt64(session * 2))])
      try journal.recordCreated([record(UInt64(session * 2 + 1))])
      try journal.recordEnded(id: UInt64(session * 2), end: .timedOut, at: 5)
      journal.close()
    }
    let journal = try VMJournal(directory: directory)
    #expect(journal.recovered.count == 6)
    #expect(journal.skippedEntries == 0)
  }

  @Test("a torn last line is skipped and counted, earlier records stay, and the next append is intact")
  func tornLastLine() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let journal = try VMJournal(directory: directory)
    try journal.recordCreated([record(1)])
    try journal.recordCreated([record(2)])
    let intact = try contents(directory).count
    try journal.recordCreated([record(3)])
    journal.close()
    let full = try contents(directory)
    try setContents(directory, Array(full[..<(intact + (full.count - intact) / 2)]))

    let reopened = try VMJournal(directory: directory)
    #expect(reopened.recovered == [record(1), record(2)])
    #expect(reopened.skippedEntries == 1)
    #expect(try contents(directory).count == intact, "the torn tail is cut off at open")
    try reopened.recordCreated([record(4)])
    reopened.close()

    let again = try VMJournal(directory: directory)
    #expect(again.recovered == [record(1), record(2), record(4)])
    #expect(again.skippedEntries == 0)
  }

  @Test("a corrupted byte in a middle line skips only that line")
  func corruptMiddleLine() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let journal = try VMJournal(directory: directory)
    for id in 1...3 { try journal.recordCreated([record(UInt64(id))]) }
    journal.close()
    var bytes = try contents(directory)
    guard let firstNewline = bytes.firstIndex(of: 0x0A) else {
      Issue.record("no newline in the journal")
      return
    }
    // A digit inside the second line's JSON: the JSON may still parse, but the checksum no longer matches.
    guard let digit = bytes[(firstNewline + 10)...].firstIndex(where: { $0 >= 0x30 && $0 <= 0x39 }) else {
      Issue.record("no digit in the second line")
      return
    }
    bytes[digit] = bytes[digit] == 0x39 ? 0x30 : bytes[digit] + 1
    try setContents(directory, bytes)

    let reopened = try VMJournal(directory: directory)
    #expect(reopened.recovered == [record(1), record(3)])
    #expect(reopened.skippedEntries == 1)

    // A line whose checksum matches but whose JSON is not an entry is skipped too.
    let bogus = Array(#"{"created":{"id":"nine"}}"#.utf8)
    try setContents(
      directory,
      try contents(directory) + Array(VMJournalEntry.checksumText(of: bogus[...]).utf8) + [0x20] + bogus + [0x0A])
    reopened.close()
    #expect(try VMJournal(directory: directory).skippedEntries == 2)
  }

  @Test(
    "a rewrite records the next id, so ids of VMs left out of the table are never given again; a hostile one is skipped"
  )
  func nextIDSurvivesCompaction() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    do {
      let journal = try VMJournal(directory: directory)
      try journal.recordCreated([record(1), record(2), record(3)])
      #expect(journal.recoveredNextID == 1)
      // VMs 1-3 were forgotten: the compacted table holds none of them, yet the next id stays 4, and 10 once asked.
      try journal.rewrite([], nextID: 10)
      journal.close()
    }
    let reopened = try VMJournal(directory: directory)
    #expect(reopened.recovered.isEmpty)
    #expect(reopened.recoveredNextID == 10)
    try reopened.recordCreated([record(10)])
    reopened.close()
    #expect(try VMJournal(directory: directory).recoveredNextID == 11)
    // A crafted next id past the largest id is skipped with a reason, not trusted.
    let line = try VMJournalEntry.nextID(1 << 63).line()
    try setContents(directory, try contents(directory) + line)
    let crafted = try VMJournal(directory: directory)
    #expect(crafted.recoveredNextID == 11)
    #expect(
      crafted.skippedEntries == 1 && crafted.skippedReasons.first?.contains("next id") == true,
      "\(crafted.skippedReasons)")
  }

  @Test(
    "a VM's owner round-trips through an append, a rewrite and a reopen; a record older than owners reads as root's; -1 or a number past 32 bits is skipped"
  )
  func owner() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var owned = record(1)
    owned.owner = 4_294_967_294
    var other = record(2)
    other.owner = 1001
    do {
      let journal = try VMJournal(directory: directory)
      try journal.recordCreated([owned, other])
      journal.close()
    }
    #expect(try VMJournal(directory: directory).recovered.map(\.owner) == [4_294_967_294, 1001])
    do {
      let journal = try VMJournal(directory: directory)
      try journal.rewrite(journal.recovered, nextID: 3)
      journal.close()
    }
    #expect(try VMJournal(directory: directory).recovered.map(\.owner) == [4_294_967_294, 1001])
    // A line as a daemon before owners wrote it: no `owner` member at all.
    func line(_ json: String) -> [UInt8] {
      Array((VMJournalEntry.checksumText(of: Array(json.utf8)[...]) + " " + json + "\n").utf8)
    }
    let old =
      #"{"created":{"arguments":[],"console":"","createdAt":1700000000,"id":3,"imageKey":"00000000000000aa-4096","imagePath":"/images/a.elf","memorySize":2097152,"restarts":0,"startedFrom":"image"}}"#
    #expect(!old.contains("owner"))
    let minusOne = old.replacingOccurrences(of: #""id":3"#, with: #""id":4,"owner":4294967295"#)
    let tooLarge = old.replacingOccurrences(of: #""id":3"#, with: #""id":5,"owner":4294967296"#)
    let negative = old.replacingOccurrences(of: #""id":3"#, with: #""id":6,"owner":-5"#)
    try setContents(directory, try contents(directory) + line(old) + line(minusOne) + line(tooLarge) + line(negative))
    let reopened = try VMJournal(directory: directory)
    #expect(reopened.recovered.map(\.id) == [1, 2, 3], "\(reopened.skippedReasons)")
    #expect(reopened.recovered.last?.owner == 0)
    #expect(reopened.skippedEntries == 3, "\(reopened.skippedReasons)")
    #expect(reopened.skippedReasons.contains { $0.contains("owner 4294967295") }, "\(reopened.skippedReasons)")
  }

  @Test("rewrite replaces the content with full records, and appends after it still replay")
  func rewrite() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let journal = try VMJournal(directory: directory)
    try journal.recordCreated((1...5).map { record($0) })
    try journal.recordEnded(id: 2, end: .exited(status: 0), at: 9)

    var kept = journal.recovered  // empty: recovered is the table at open
    #expect(kept.isEmpty)
    kept = [record(1), record(3, console: Array("count 41\n".utf8))]
    kept[0].startedFrom = .swap
    kept[0].restarts = 2
    try journal.rewrite(kept)
    let lines = String(decoding: try contents(directory), as: UTF8.self).split(separator: "\n")
    // The next id first (above every id recorded), then one full record per VM.
    #expect(lines.count == 3)
    #expect(lines.first?.hasSuffix(#" {"nextID":4}"#) == true, "\(lines.first ?? "")")
    #expect(lines.dropFirst().allSatisfy { $0.contains(#" {"record":{"#) })

    try journal.recordCreated([record(6)])
    try journal.recordEnded(id: 3, end: .killed, at: 10)
    journal.close()

    let reopened = try VMJournal(directory: directory)
    var expected = kept + [record(6)]
    expected[1].end = .killed
    expected[1].endedAt = 10
    #expect(reopened.recovered == expected)
    #expect(reopened.skippedEntries == 0)
    let names = try FileManager.default.contentsOfDirectory(atPath: directory)
    #expect(names == ["vms.journal"], "no temporary file is left: \(names)")
  }

  @Test("a VM's address and its network counters round-trip through appends, a rewrite and a reopen")
  func addressAndNetworkUsage() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var networked = record(1)
    networked.address = IPv4Address(10, 0, 5, 5)
    let journal = try VMJournal(directory: directory)
    try journal.recordCreated([networked, record(2)])
    var counters = NetworkCounters()
    counters.packetsIn = 3
    counters.bytesOut = 1500
    counters[.vmToVMDenied] = 4
    var usage = VMUsage()
    usage.network = counters
    try journal.recordEnded(id: 1, end: .killed, at: 1_700_000_200, usage: usage)
    journal.close()
    let lines = String(decoding: try contents(directory), as: UTF8.self)
    #expect(lines.contains(#""address":"10.0.5.5""#) && lines.contains(#""drops":{"vm-to-vm-denied":4}"#), "\(lines)")
    let reopened = try VMJournal(directory: directory)
    #expect(reopened.recovered.map(\.address) == [IPv4Address(10, 0, 5, 5), nil])
    #expect(reopened.recovered[0].usage.network == counters)
    try reopened.rewrite(reopened.recovered)
    reopened.close()
    let rewritten = try VMJournal(directory: directory)
    defer { rewritten.close() }
    #expect(
      rewritten.recovered[0].address == IPv4Address(10, 0, 5, 5) && rewritten.recovered[0].usage.network == counters)
    #expect(rewritten.recovered[1].usage.network == nil)
  }

  @Test("the console is base64 in the JSON and round-trips every byte value")
  func base64Console() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let console = (0...255).map { UInt8($0) } + (0...255).reversed().map { UInt8($0) }
    let journal = try VMJournal(directory: directory)
    try journal.rewrite([record(1, console: console)])
    journal.close()
    let text = String(decoding: try contents(directory), as: UTF8.self)
    #expect(text.contains(#""console":"\#(Data(console).base64EncodedString())""#))
    #expect(try VMJournal(directory: directory).recovered == [record(1, console: console)])

    let json = try JSONEncoder().encode(record(2, console: [0, 255]))
    #expect(String(decoding: json, as: UTF8.self).contains(#""console":"AP8=""#))
    #expect(try JSONDecoder().decode(VMRecord.self, from: json).console == [0, 255])
  }

  @Test("appends from several threads at once all survive, each line intact")
  func concurrentAppends() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let journal = try VMJournal(directory: directory)
    DispatchQueue.concurrentPerform(iterations: 8) { thread in
      for index in 0..<25 {
        let id = UInt64(thread * 100 + index)
        do {
          try journal.recordCreated([record(id)])
          try journal.recordEnded(id: id, end: .exited(status: Int32(thread)), at: 1)
        } catch {
          Issue.record("append failed: \(error)")
        }
      }
    }
    journal.close()
    let reopened = try VMJournal(directory: directory)
    #expect(reopened.recovered.count == 200)
    #expect(reopened.skippedEntries == 0)
    #expect(reopened.recovered.allSatisfy { $0.end == .exited(status: Int32($0.id / 100)) })
  }

  @Test("calls after close throw instead of writing")
  func closed() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let journal = try VMJournal(directory: directory)
    journal.close()
    #expect(throws: VMJournalError.closed(path: directory + "/vms.journal")) { try journal.recordCreated([record(1)]) }
    #expect(throws: VMJournalError.self) { try journal.rewrite([]) }
  }

  @Test("a journal that cannot be created is an error naming the path")
  func unopenable() throws {
    let parent = "/tmp/denali-journal-missing-\(UUID().uuidString)"
    let directory = parent + "/state"
    do {
      _ = try VMJournal(directory: directory)
      Issue.record("opening a journal in a missing directory succeeded")
    } catch {
      #expect(error == .directory(.system(path: parent, operation: "stat", errno: ENOENT)))
      #expect(error.description.contains(parent))
      #expect(error.description.contains("No such file or directory"))
    }
  }

  @Test("a full disk: the append throws ENOSPC, and the journal before it replays intact")
  func fullDisk() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    guard mount("tmpfs", directory, "tmpfs", 0, "size=64k,mode=0700") == 0 else {
      let message = "skipping: cannot mount a tmpfs on \(directory): \(String(cString: strerror(errno))) (needs root)"
      if ProcessInfo.processInfo.environment["CI"] == "true" {
        Issue.record(Comment(rawValue: message))
      } else {
        print(message)
      }
      return
    }
    defer { umount2(directory, Int32(MNT_DETACH)) }

    let journal = try VMJournal(directory: directory)
    try journal.recordCreated([record(1), record(2)])
    try journal.recordEnded(id: 1, end: .exited(status: 3), at: 4)
    let before = try contents(directory)

    // Fill the file system.
    let filler = open(directory + "/filler", O_WRONLY | O_CREAT, 0o600)
    #expect(filler >= 0)
    let chunk = [UInt8](repeating: 0xAA, count: 4096)
    var size = chunk.count
    while size > 0 {
      if chunk.withUnsafeBytes({ write(filler, $0.baseAddress, size) }) < 0 { size /= 2 }
    }

    // Enough records that they cannot fit in what is left of the journal's last page.
    let batch = (10..<40).map { record(UInt64($0)) }
    do {
      try journal.recordCreated(batch)
      Issue.record("appending to a full disk succeeded")
    } catch {
      #expect(error.isNoSpace, "\(error)")
      #expect(error.description.contains("No space left on device"), "\(error)")
    }
    #expect(throws: VMJournalError.self) { try journal.rewrite((1...60).map { record($0) }) }
    #expect(try contents(directory) == before, "failed appends and the failed rewrite left nothing behind")

    let reopened = try VMJournal(directory: directory)
    var first = record(1)
    first.end = .exited(status: 3)
    first.endedAt = 4
    #expect(reopened.recovered == [first, record(2)])
    #expect(reopened.skippedEntries == 0)
    reopened.close()

    // With space again, the same journal appends after the intact entries.
    close(filler)
    unlink(directory + "/filler")
    try journal.recordCreated(batch)
    journal.close()
    let after = try VMJournal(directory: directory)
    #expect(after.recovered == [first, record(2)] + batch)
    #expect(after.skippedEntries == 0)
    after.close()
  }
}
