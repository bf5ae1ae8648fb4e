// CraftedStateFileTests.swift: state files crafted to crash or exhaust the daemon at start (numbers near 2^63 and
// 2^64, lengths of a GiB, ids and counters at their maximum) are refused with a reason, never trapping and never
// allocating what the file does not hold.
// Addresses here (10.0.0.x) are only bytes in crafted journal lines: no packet is sent, no namespace is needed.
import CSwapSupport
import Foundation
import Glibc
import KVM
import Testing

@testable import DenaliCore

@Suite("Crafted state files")
struct CraftedStateFileTests {
  static let memorySize: UInt64 = 2 << 20

  /// A fresh directory (mode 0700) for one test, removed afterwards by the caller.
  func makeDirectory() throws -> String {
    let path = "/tmp/denali-crafted-\(UUID().uuidString)"
    try FileManager.default.createDirectory(
      atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    return path
  }

  /// A committed swap file of VM 9 at `path` with three non-zero pages.
  func writeSwapFile(_ path: String) throws {
    let memory = try GuestMemory(size: Self.memorySize)
    for page in [3, 4, 100] { try memory.write(UInt64(page) + 1, at: UInt64(page * 4096)) }
    let file = SwapFile(path: path, vmID: 9, memorySize: Self.memorySize)
    try file.complete(try file.write(memory: memory, state: [1, 2, 3], previous: nil, changed: nil))
  }

  /// Rewrites superblock `slot` of the swap file at `path` after `change`, with a checksum that matches.
  func patchSuperblock(_ path: String, slot: Int = 0, _ change: (inout [UInt8]) -> Void) throws {
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    var block = Array(bytes[(slot * 4096)..<(slot * 4096 + 128)])
    change(&block)
    store(checksum(block[0..<64]), in: &block, at: 64)
    bytes.replaceSubrange((slot * 4096)..<(slot * 4096 + 128), with: block)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
  }

  func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    bytes.withUnsafeBytes { swap_crc32c(0, $0.baseAddress, $0.count) }
  }

  func store<T: FixedWidthInteger>(_ value: T, in bytes: inout [UInt8], at offset: Int) {
    withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<(offset + $0.count), with: $0) }
  }

  func load<T: FixedWidthInteger>(_: T.Type, from bytes: [UInt8], at offset: Int) -> T {
    var value: T = 0
    for index in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + index]) << (8 * index) }
    return value
  }

  /// The peak resident set of this process, in bytes.
  func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
  }

  @Test("a superblock whose segment offset is 2^63 or more is refused, not trapped on")
  func segmentOffsetBeyondOffT() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/vm-9.swap"
    try writeSwapFile(path)
    for offset: UInt64 in [1 << 63, UInt64.max - 4095] {
      try patchSuperblock(path) { store(offset, in: &$0, at: 40) }
      let file = SwapFile(path: path, vmID: 9, memorySize: Self.memorySize)
      #expect {
        try file.recover()
      } throws: { error in
        "\(error)".contains("segment") && "\(error)".contains("out of range")
      }
    }
  }

  @Test("a page entry whose offset is near 2^64 (offset + 4096 overflows) is refused, not trapped on")
  func pageOffsetNearTop() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/vm-9.swap"
    try writeSwapFile(path)
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    let segmentOffset = Int(load(UInt64.self, from: bytes, at: 40))
    let segmentLength = Int(load(UInt32.self, from: bytes, at: 48))
    let stateLength = Int(load(UInt32.self, from: bytes, at: segmentOffset + 32))
    // The first page entry's offset: a page-aligned value whose + 4096 wraps to 0.
    store(UInt64.max - 4095, in: &bytes, at: segmentOffset + 40 + stateLength + 8)
    let segmentCRC = checksum(bytes[segmentOffset..<(segmentOffset + segmentLength)])
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    try patchSuperblock(path) { store(segmentCRC, in: &$0, at: 52) }
    #expect {
      try SwapFile(path: path, vmID: 9, memorySize: Self.memorySize).recover()
    } throws: { error in
      "\(error)".contains("page entry is out of range")
    }
  }

  @Test("a superblock claiming a 1 GiB segment is refused before anything is allocated")
  func hugeSegmentLength() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/vm-9.swap"
    try writeSwapFile(path)
    let before = peakResidentBytes()
    for length: UInt32 in [1 << 30, UInt32.max] {
      try patchSuperblock(path) { store(length, in: &$0, at: 48) }
      #expect(throws: SwapError.self) { try SwapFile(path: path, vmID: 9, memorySize: Self.memorySize).recover() }
    }
    let grown = peakResidentBytes() - before
    #expect(grown < 256 << 20, "the peak resident set grew by \(grown >> 20) MiB")
  }

  @Test("a superblock whose file end does not follow its segment is refused (it would place the next write)")
  func fileEndMismatch() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/vm-9.swap"
    try writeSwapFile(path)
    try patchSuperblock(path) { store(UInt64(1) << 63, in: &$0, at: 56) }
    #expect(throws: SwapError.self) { try SwapFile(path: path, vmID: 9, memorySize: Self.memorySize).recover() }
  }

  /// A journal line for `record`, with a checksum that matches.
  func line(_ record: VMRecord) throws -> [UInt8] { try VMJournalEntry.created(record).line() }

  func record(_ id: UInt64) -> VMRecord {
    VMRecord(
      id: id, name: nil, imagePath: "/images/hello.elf", imageKey: "0123456789abcdef-4096", memorySize: 2 << 20,
      diskSize: nil, arguments: [], createdAt: 1_700_000_000)
  }

  @Test("journal records with an id of 2^64-1, restarts of Int.max or impossible sizes are skipped with a reason")
  func journalNumbersOutOfBounds() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var restarts = record(3)
    restarts.restarts = Int.max
    var memory = record(4)
    memory.memorySize = 1 << 63
    var disk = record(5)
    disk.diskSize = UInt64.max
    var key = record(6)
    key.imageKey = "../../etc/passwd"
    var time = record(7)
    time.createdAt = 1e300
    let lines = try [record(1), record(UInt64.max), restarts, memory, disk, key, time, record(2)].map(line)
    try Data(lines.joined()).write(to: URL(fileURLWithPath: directory + "/vms.journal"))
    let journal = try VMJournal(directory: directory)
    defer { journal.close() }
    #expect(journal.recovered.map(\.id) == [1, 2])
    #expect(journal.skippedEntries == 6)
    let reasons = journal.skippedReasons.joined(separator: "\n")
    #expect(reasons.contains("line 2: id 18446744073709551615 is out of range"), "\(reasons)")
    #expect(reasons.contains("line 3: vm 3: restarts 9223372036854775807 is out of range"), "\(reasons)")
    #expect(reasons.contains("line 4: vm 4:"), "\(reasons)")
    #expect(reasons.contains("line 5: vm 5: disk size"), "\(reasons)")
    #expect(reasons.contains("line 6: vm 6:"), "\(reasons)")
    #expect(reasons.contains("line 7: vm 7: createdAt"), "\(reasons)")
  }

  /// A checksummed journal line for `json` (a `created` entry written by hand).
  func line(json: String) -> [UInt8] {
    let bytes = Array(json.utf8)
    return Array((VMJournalEntry.checksumText(of: bytes[...]) + " " + json + "\n").utf8)
  }

  @Test(
    "journal addresses that are not IPv4, or that no VM could have, skip their record; hostile counters do not trap")
  func journalAddresses() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    func created(_ id: Int, _ extra: String) -> [UInt8] {
      line(
        json:
          #"{"created":{"arguments":[],"createdAt":1700000000,"id":\#(id),"imageKey":"0123456789abcdef-4096","imagePath":"/i/udp-echo.elf","memorySize":2097152\#(extra)}}"#
      )
    }
    let max = UInt64.max
    let lines: [[UInt8]] = [
      created(
        1,
        #","address":"10.0.0.5","usage":{"cpuNanoseconds":0,"exitsIO":0,"exitsInterrupted":0,"exitsMMIO":0,"exitsOther":0,"hypercalls":0,"network":{"packetsIn":\#(max),"drops":{"spoofed":\#(max),"no-such-reason":7}}}"#
      ),
      created(2, #","address":"300.1.1.1""#),
      created(3, #","address":"10.0.0.5.1""#),
      created(4, #","address":"224.0.0.1""#),
      created(5, #","address":"127.0.0.1""#),
      created(6, #","address":"0.0.0.0""#),
      created(7, #","address":7"#),
      created(8, #","address":"10.0.0.5                                                   ""#),
    ]
    try Data(lines.joined()).write(to: URL(fileURLWithPath: directory + "/vms.journal"))
    let journal = try VMJournal(directory: directory)
    defer { journal.close() }
    #expect(journal.recovered.map(\.id) == [1])
    #expect(journal.recovered.first?.address == IPv4Address(10, 0, 0, 5))
    var counters = try #require(journal.recovered.first?.usage.network)
    #expect(counters.packetsIn == max && counters[.spoofedSource] == max && counters.totalDrops == max)
    counters.add(counters)  // wrapping arithmetic only
    #expect(counters.packetsIn == max - 1)
    #expect(journal.skippedEntries == 7)
    let reasons = journal.skippedReasons.joined(separator: "\n")
    for (line, address) in [(4, "224.0.0.1"), (5, "127.0.0.1"), (6, "0.0.0.0")] {
      #expect(
        reasons.contains("line \(line): vm \(line): address \(address) is not a unicast host address"), "\(reasons)")
    }
    for line in [2, 3, 7, 8] { #expect(reasons.contains("line \(line): not a journal entry"), "\(reasons)") }
  }

  @Test("a journal line longer than the limit is skipped without being held in memory; the lines after it count")
  func journalHugeLine() throws {
    var bytes = try line(record(1))
    bytes += [UInt8](repeating: 0x41, count: VMJournalReplay.maximumLineBytes + 10) + [0x0A]
    bytes += try line(record(2))
    var replay = VMJournalReplay()
    // Fed in small chunks, as the file is read.
    var start = 0
    while start < bytes.count {
      replay.consume(bytes[start..<min(start + 4096, bytes.count)])
      start += 4096
    }
    replay.finish()
    #expect(replay.table.keys.sorted() == [1, 2])
    #expect(replay.skipped == 1)
    #expect(replay.reasons == ["line 2: longer than \(VMJournalReplay.maximumLineBytes) bytes"])
    #expect(replay.completeLength == bytes.count)
  }

  @Test("a stored image larger than the loader's limit is refused without reading it (a sparse 1 GiB file)")
  func hugeStoredImage() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let store = try ImageStore(directory: directory + "/images-store")
    let key = "0123456789abcdef-1073741824"
    let fd = open(directory + "/images-store/\(key).elf", O_WRONLY | O_CREAT, 0o600)
    #expect(ftruncate(fd, 1 << 30) == 0)
    close(fd)
    let before = peakResidentBytes()
    #expect(
      throws: ImageStoreError.system(path: directory + "/images-store/\(key).elf", operation: "read", errno: EFBIG)
    ) {
      try store.load(key)
    }
    #expect(peakResidentBytes() - before < 256 << 20)
  }
}
