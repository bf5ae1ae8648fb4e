// SwapFileTests.swift: the swap-file format on real files: round trips, zero pages, incremental writes, a
// crash in the middle of a swap-out, corruption refused, and a full disk that loses nothing.
import CSwapSupport
import Foundation
import Glibc
import KVM
import Testing

@testable import DenaliCore

@Suite("Swap files")
struct SwapFileTests {
  static let memorySize: UInt64 = 2 << 20
  static let pages = Int(memorySize / 4096)

  /// A fresh directory for one test, removed afterwards by the caller.
  func makeDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "denali-swapfile-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// Memory whose page `page` holds `value` in every word, for each pair.
  func memory(_ contents: [Int: UInt64]) throws -> GuestMemory {
    let memory = try GuestMemory(size: Self.memorySize)
    for (page, value) in contents {
      for word in 0..<512 { try memory.write(value, at: UInt64(page * 4096 + word * 8)) }
    }
    return memory
  }

  func contents(of memory: GuestMemory, pages: [Int]) throws -> [Int: UInt64] {
    var result: [Int: UInt64] = [:]
    for page in pages { result[page] = try memory.read(UInt64.self, at: UInt64(page * 4096 + 4088)) }
    return result
  }

  func commit(
    _ file: SwapFile, _ memory: GuestMemory, previous: [SwapPageEntry]?, changed: PageBitmap?,
    state: [UInt8] = [1, 2, 3]
  )
    throws -> PendingSwapWrite
  {
    let pending = try file.write(memory: memory, state: state, previous: previous, changed: changed)
    try file.complete(pending)
    return pending
  }

  func fileSize(_ path: String) -> UInt64 {
    ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? UInt64) ?? 0
  }

  @Test("an image round-trips through a new process's view of the file; zero pages are not stored")
  func roundTrip() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = "\(directory)/vm-7.swap"
    let original = try memory([3: 0x1111, 100: 0x2222, 511: 0x3333])
    let file = SwapFile(path: path, vmID: 7, memorySize: Self.memorySize)
    let pending = try commit(file, original, previous: nil, changed: nil, state: [9, 8, 7])
    #expect(pending.pagesWritten == 3, "only the three non-zero pages are stored")
    #expect(fileSize(path) < 6 * 4096, "superblocks, three pages and a segment: \(fileSize(path)) bytes")

    let reopened = SwapFile(path: path, vmID: 7, memorySize: Self.memorySize)
    try reopened.recover()
    let restored = try GuestMemory(size: Self.memorySize)
    let image = try reopened.load(into: restored)
    #expect(image.state == [9, 8, 7])
    #expect(try contents(of: restored, pages: [3, 100, 511, 4]) == [3: 0x1111, 100: 0x2222, 511: 0x3333, 4: 0])
  }

  @Test("an incremental swap-out writes only the changed pages and the result loads as the newest image")
  func incremental() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = "\(directory)/vm-1.swap"
    var values: [Int: UInt64] = [:]
    for page in 10..<110 { values[page] = UInt64(page) }
    let memory = try memory(values)
    let file = SwapFile(path: path, vmID: 1, memorySize: Self.memorySize)
    let first = try commit(file, memory, previous: nil, changed: nil)
    #expect(first.pagesWritten == 100)

    // Change two pages and zero a third.
    var changed = PageBitmap(pageCount: Self.pages)
    for word in 0..<512 { try memory.write(UInt64(0xAAAA), at: UInt64(20 * 4096 + word * 8)) }
    try memory.zero(at: 30 * 4096, count: 4096)
    for word in 0..<512 { try memory.write(UInt64(0xBBBB), at: UInt64(200 * 4096 + word * 8)) }
    changed.insert(20)
    changed.insert(30)
    changed.insert(200)
    let second = try commit(file, memory, previous: first.entries, changed: changed)
    #expect(second.pagesWritten == 2, "pages 20 and 200; the zeroed page 30 is dropped, the rest referenced")
    #expect(second.bytesWritten < 4 * 4096)
    #expect(second.entries.count == 100, "100 - page 30 + page 200")

    let reopened = SwapFile(path: path, vmID: 1, memorySize: Self.memorySize)
    try reopened.recover()
    #expect(reopened.committed?.generation == 2)
    let restored = try GuestMemory(size: Self.memorySize)
    _ = try reopened.load(into: restored)
    #expect(
      try contents(of: restored, pages: [10, 20, 30, 109, 200]) == [10: 10, 20: 0xAAAA, 30: 0, 109: 109, 200: 0xBBBB])
  }

  @Test(
    "a VM that changes every page between swap-outs never makes its swap file (with a fresh copy beside it) pass the worst case swap-limit charges"
  )
  func worstCaseBound() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = "\(directory)/vm-3.swap"
    let memory = try GuestMemory(size: Self.memorySize)
    let file = SwapFile(path: path, vmID: 3, memorySize: Self.memorySize)
    // The largest state a segment may hold, and every page changed and non-zero each time.
    let state = [UInt8](repeating: 0x5A, count: SwapFile.maximumStateBytes)
    var previous: [SwapPageEntry]?
    var peak: UInt64 = 0
    for round in 1...6 {
      var changed = PageBitmap(pageCount: Self.pages)
      for page in 0..<Self.pages {
        try memory.write(UInt64(round << 32 | page), at: UInt64(page * 4096))
        changed.insert(page)
      }
      let pending = try file.write(
        memory: memory, state: state, previous: previous, changed: previous == nil ? nil : changed)
      // Before the rename, the old file and a fresh one may both be there.
      peak = max(peak, fileSize(path) + fileSize(path + ".new"))
      try file.complete(pending)
      previous = pending.entries
    }
    let bound = SwapFile.worstCaseDiskBytes(memorySize: Self.memorySize)
    #expect(peak <= bound, "peak \(peak) bytes, bound \(bound)")
    // The peak reaches nearly four images: the bound is what the format needs, not a guess far above it.
    #expect(peak * 10 >= bound * 9, "peak \(peak) bytes, bound \(bound)")
  }

  @Test("a swap-out's pages are on their way to the disk when its write returns, before the batch's sync")
  func writebackStartsBeforeTheSync() throws {
    // /var/tmp: a disk-backed file system (tmpfs pages are never written back).
    let directory = "/var/tmp/denali-swapfile-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    // Every page non-zero: 512 pages, two runs of 256 for the writer.
    var contents: [Int: UInt64] = [:]
    for page in 0..<Self.pages { contents[page] = UInt64(page + 1) }
    let memory = try memory(contents)
    let file = SwapFile(path: "\(directory)/vm-4.swap", vmID: 4, memorySize: Self.memorySize)
    let pending = try file.write(memory: memory, state: [1], previous: nil, changed: nil)
    defer { file.abandon(pending) }
    #expect(pending.pagesWritten == Self.pages)
    // Without the early writeback all 514 pages (and the segment) would still be dirty here: nothing else writes
    // a 2 MiB file back within seconds. Pages being written or written are no longer dirty.
    let dirty = try #require(pending.dirtyPages, "cachestat (Linux 6.5) tells the dirty pages of a file")
    #expect(dirty * 8 < Int64(Self.pages), "\(dirty) of \(Self.pages) pages still dirty after the write")
  }

  @Test(
    "a swap-in of a file not in the page cache reads its pages with O_DIRECT (the cache stays empty) and still refuses a corrupted page"
  )
  func coldLoadReadsDirect() throws {
    // /var/tmp: a disk-backed file system (tmpfs has no direct I/O to speak of, and its pages are the file).
    let directory = "/var/tmp/denali-swapfile-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = "\(directory)/vm-5.swap"
    var values: [Int: UInt64] = [:]
    for page in 0..<Self.pages { values[page] = UInt64(page) << 16 | 0x5A }
    let file = SwapFile(path: path, vmID: 5, memorySize: Self.memorySize)
    let pending = try commit(file, try memory(values), previous: nil, changed: nil)

    /// Makes the file durable and drops it from the page cache (as after a while out of memory); returns the
    /// pages of it still cached (of the 512 page records, two superblocks and the segment).
    func evictFromCache() throws -> Int64 {
      let fd = Glibc.open(path, O_RDWR)
      try #require(fd >= 0)
      defer { close(fd) }
      #expect(fsync(fd) == 0)
      #expect(posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED)) == 0)
      return try #require(cachedPages(), "cachestat (Linux 6.5) tells the cached pages of a file")
    }
    func cachedPages() -> Int64? {
      let fd = Glibc.open(path, O_RDONLY)
      guard fd >= 0 else { return nil }
      defer { close(fd) }
      let count = swap_cached_pages(fd, 0, 0)
      return count >= 0 ? count : nil
    }
    #expect(try evictFromCache() < 8, "the file left the page cache")

    let restored = try GuestMemory(size: Self.memorySize)
    _ = try file.load(into: restored)
    let sample = [0, 1, 255, 256, 300, Self.pages - 1]
    #expect(
      try contents(of: restored, pages: sample)
        == Dictionary(uniqueKeysWithValues: sample.map { ($0, values[$0] ?? 0) }))
    // Read through the cache, all 512 page records would be in it now; read directly, only the segment is.
    let cached = try #require(cachedPages())
    #expect(cached < 16, "\(cached) pages of the file cached after a cold swap-in")

    // A flipped bit in a page on disk is caught on the direct path too.
    let fd = Glibc.open(path, O_WRONLY)
    try #require(fd >= 0)
    var byte: UInt8 = 0xFF
    let offset = off_t(try #require(pending.entries.last).offset) + 123
    #expect(pwrite(fd, &byte, 1, offset) == 1)
    close(fd)
    #expect(try evictFromCache() < 8)
    let scratch = try GuestMemory(size: Self.memorySize)
    do {
      _ = try file.load(into: scratch)
      Issue.record("a corrupted page was loaded")
    } catch {
      #expect(error.description.contains("checksum"), "\(error)")
    }
  }

  @Test("a crash in the middle of a swap-out leaves the previous complete image, incremental or fresh")
  func crashMidSwapOut() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = "\(directory)/vm-2.swap"
    let memory = try memory([50: 0x5050])
    let file = SwapFile(path: path, vmID: 2, memorySize: Self.memorySize)
    let first = try commit(file, memory, previous: nil, changed: nil)

    // An incremental write whose process dies before the sync: its superblock may be on disk, but its
    // segment is cut short (the crash), so its checksum fails and generation 1 is what loads.
    for word in 0..<512 { try memory.write(UInt64(0x6060), at: UInt64(50 * 4096 + word * 8)) }
    var changed = PageBitmap(pageCount: Self.pages)
    changed.insert(50)
    let torn = try file.write(memory: memory, state: [4], previous: first.entries, changed: changed)
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    try handle.truncate(atOffset: torn.commit.segmentOffset + 8)
    try handle.close()
    let afterCrash = SwapFile(path: path, vmID: 2, memorySize: Self.memorySize)
    try afterCrash.recover()
    #expect(afterCrash.committed?.generation == 1)
    let restored = try GuestMemory(size: Self.memorySize)
    #expect(try afterCrash.load(into: restored).state == [1, 2, 3])
    #expect(try restored.read(UInt64.self, at: 50 * 4096) == 0x5050)

    // A fresh rewrite (a compaction) that dies before its rename leaves a stray .new file, never loaded.
    let fresh = try SwapFile(path: path, vmID: 2, memorySize: Self.memorySize).write(
      memory: memory, state: [5], previous: nil, changed: nil)
    _ = fresh  // never completed: the process "died"
    #expect(FileManager.default.fileExists(atPath: path + ".new"))
    let again = SwapFile(path: path, vmID: 2, memorySize: Self.memorySize)
    try again.recover()
    #expect(again.committed?.generation == 1)
  }

  @Test("corrupted swap files are refused with a clear error, never loaded")
  func corruption() throws {
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = "\(directory)/vm-3.swap"
    let memory = try memory([60: 0x6161, 61: 0x6262])
    let file = SwapFile(path: path, vmID: 3, memorySize: Self.memorySize)
    let pending = try commit(file, memory, previous: nil, changed: nil)
    let pristine = try Data(contentsOf: URL(fileURLWithPath: path))

    func corrupt(at offset: Int) throws -> SwapError? {
      var bytes = pristine
      bytes[offset] ^= 0x40
      try bytes.write(to: URL(fileURLWithPath: path))
      do {
        try SwapFile(path: path, vmID: 3, memorySize: Self.memorySize).verify()
        return nil
      } catch {
        return error
      }
    }
    let pageOffset = Int(try #require(pending.entries.first).offset) + 100
    let pageError = try #require(try corrupt(at: pageOffset), "a flipped bit in a page is caught")
    #expect(pageError.description.contains("checksum"), "\(pageError)")
    let segmentError = try #require(try corrupt(at: Int(pending.commit.segmentOffset) + 50))
    #expect(segmentError.description.contains("corrupt"), "\(segmentError)")
    let superblockError = try #require(try corrupt(at: 20))
    #expect(superblockError.description.contains("superblock 0"), "\(superblockError)")

    // Truncated, empty, or another VM's file.
    try pristine.prefix(5000).write(to: URL(fileURLWithPath: path))
    #expect(throws: SwapError.self) { try SwapFile(path: path, vmID: 3, memorySize: Self.memorySize).verify() }
    try Data().write(to: URL(fileURLWithPath: path))
    #expect(throws: SwapError.self) { try SwapFile(path: path, vmID: 3, memorySize: Self.memorySize).verify() }
    try pristine.write(to: URL(fileURLWithPath: path))
    do {
      try SwapFile(path: path, vmID: 4, memorySize: Self.memorySize).verify()
      Issue.record("another VM's image must be refused")
    } catch {
      #expect(error.description.contains("image of VM 3, not 4"), "\(error)")
    }
    try SwapFile(path: path, vmID: 3, memorySize: Self.memorySize).verify()  // the pristine file is fine
  }

  @Test("a full disk fails the swap-out cleanly: the error says so and the previous image still loads")
  func fullDisk() throws {
    guard let mount = try SmallFileSystem(kilobytes: 160) else { return }
    defer { mount.remove() }
    let path = "\(mount.path)/vm-5.swap"
    let small = try memory([1: 1, 2: 2])
    let file = SwapFile(path: path, vmID: 5, memorySize: Self.memorySize)
    let first = try commit(file, small, previous: nil, changed: nil)
    var values: [Int: UInt64] = [:]
    for page in 100..<200 { values[page] = UInt64(page) }  // 400 KiB: more than the file system holds
    let big = try memory(values)
    var changed = PageBitmap(pageCount: Self.pages)
    for page in 100..<200 { changed.insert(page) }
    do {
      _ = try file.write(memory: big, state: [], previous: first.entries, changed: changed)
      Issue.record("a write larger than the file system must fail")
    } catch {
      #expect(error.isNoSpace, "\(error)")
      #expect(error.description.contains("No space left on device"), "\(error)")
    }
    #expect(file.committed?.generation == 1)
    let reopened = SwapFile(path: path, vmID: 5, memorySize: Self.memorySize)
    try reopened.verify()
    #expect(reopened.committed?.generation == 1)
    // The space the failed write took is given back.
    #expect(fileSize(path) <= first.commit.fileEnd)
  }
}

/// A tmpfs of a few kilobytes mounted on a fresh directory (needs root); nil with a message when it cannot be
/// mounted outside CI.
struct SmallFileSystem {
  let path: String

  init?(kilobytes: Int) throws {
    path = NSTemporaryDirectory() + "denali-small-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    let mount = Process()
    mount.executableURL = URL(fileURLWithPath: "/bin/mount")
    // Mode 0700: a tmpfs root is 1777 by default, which the daemon rightly refuses to write in.
    mount.arguments = ["-t", "tmpfs", "-o", "size=\(kilobytes)k,mode=0700", "tmpfs", path]
    try mount.run()
    mount.waitUntilExit()
    guard mount.terminationStatus == 0 else {
      try? FileManager.default.removeItem(atPath: path)
      if ProcessInfo.processInfo.environment["CI"] == "true" {
        Issue.record("cannot mount a small tmpfs (the full-disk tests need root)")
      } else {
        print("skipping: cannot mount a small tmpfs (needs root)")
      }
      return nil
    }
  }

  func remove() {
    let umount = Process()
    umount.executableURL = URL(fileURLWithPath: "/bin/umount")
    umount.arguments = [path]
    try? umount.run()
    umount.waitUntilExit()
    try? FileManager.default.removeItem(atPath: path)
  }
}
