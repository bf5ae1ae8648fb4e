// SwapFile.swift: one VM's swap file: an append-only log of page images and segments, committed through two
// checksummed superblocks, so a crash at any point leaves the previous complete image loadable.
import CSwapSupport
import Glibc
import KVM
import TrustedFiles

/// One saved page: its index, the CRC-32C of its bytes, and where they are in the file. Pages without an
/// entry are all zero (never stored).
struct SwapPageEntry: Equatable, Sendable {
  var page: UInt32
  var crc: UInt32
  var offset: UInt64
}

/// Where a committed image lives in its file; this small record is all a swapped-out VM keeps in memory.
public struct SwapCommit: Equatable, Sendable {
  /// Increases by one with every commit.
  public internal(set) var generation: UInt64
  /// The superblock slot (0 or 1) holding this commit.
  var slot: UInt32
  var segmentOffset: UInt64
  var segmentLength: UInt32
  var segmentCRC: UInt32
  /// Bytes of the file in use (the end of the last record, page aligned).
  var fileEnd: UInt64
  /// Bytes the image itself needs (superblocks, its pages and its segment); the rest is older garbage.
  var liveBytes: UInt64
}

/// A swap-out written but not yet durable: finish it with `SwapFile.complete` after a sync, or undo it
/// with `SwapFile.abandon`.
struct PendingSwapWrite {
  fileprivate let fd: Int32
  fileprivate let fresh: Bool
  /// The commit this write makes once complete.
  let commit: SwapCommit
  /// The image's page entries (kept by a resident VM to write only changed pages next time).
  let entries: [SwapPageEntry]
  /// Bytes this write added to the disk (its pages and segment).
  let bytesWritten: UInt64
  /// Pages this write stored (changed and not zero).
  let pagesWritten: Int

  /// Pages of the file still dirty in the page cache (writeback not yet started), or nil when the kernel cannot
  /// tell (`cachestat`, Linux 6.5).
  var dirtyPages: Int64? {
    let count = swap_dirty_pages(fd)
    return count >= 0 ? count : nil
  }
}

/// A loaded image: the opaque machine state and the page entries, with the pages already in memory.
struct LoadedSwapImage {
  let state: [UInt8]
  let entries: [SwapPageEntry]
  let commit: SwapCommit
}

/// The swap file of one VM.
///
/// Layout: two 4 KiB superblock slots, then records appended at page-aligned offsets: the pages a swap-out
/// stores, then a segment naming every non-zero page of the image, the machine state, and their
/// checksums. A commit writes the segment, then the superblock slot the previous commit does not use.
/// Loading takes the newest superblock whose checksum, segment and pages all verify. When the file holds
/// more garbage than image, the next swap-out writes a fresh file and renames it over the old one.
public final class SwapFile {
  /// Bytes per page.
  static let pageSize: UInt64 = GuestMemory.pageSize
  private static let superblockMagic: UInt64 = 0x3150_4157_534c_4e44  // "DNLSWAP1"
  private static let segmentMagic: UInt64 = 0x3130_4745_534c_4e44  // "DNLSEG01"
  private static let formatVersion: UInt32 = 1
  private static let superblockSize = 128
  static let dataStart: UInt64 = 2 * pageSize
  static let segmentHeaderSize = 40
  static let entrySize = 16
  /// Garbage allowed beyond the image's own size before a swap-out rewrites the file compactly: the file
  /// stays under twice its image plus this.
  static let compactionSlack: UInt64 = 64 << 10
  /// Largest machine state a segment may hold (the encoded vCPU state is a few KiB).
  static let maximumStateBytes = 1 << 20

  /// The file's path (for messages: the file is reached through its directory's descriptor).
  public let path: String
  /// The file's name in its directory.
  private let name: String
  /// The directory's path.
  private let directoryPath: String
  /// The directory, held open: its swap store's when one is open for it, else opened (and checked) at first use.
  private var directory: TrustedDirectory?
  /// The VM whose image this is.
  public let vmID: UInt64
  /// The VM's memory size; an image of another size is refused.
  public let memorySize: UInt64
  /// The newest complete image, if any.
  public private(set) var committed: SwapCommit?

  /// A swap file at `path` with no image yet (nothing is read or written until the first swap-out). Its
  /// directory is opened (and checked) at first use; the daemon makes its swap files with
  /// `init(store:vmID:memorySize:)`, which reaches them through the store's descriptor.
  public init(path: String, vmID: UInt64, memorySize: UInt64) {
    let slash = path.lastIndex(of: "/")
    name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    directoryPath = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
    self.path = path
    self.vmID = vmID
    self.memorySize = memorySize
  }

  /// VM `id`'s swap file in `store`.
  public convenience init(store: SwapStore, vmID: UInt64, memorySize: UInt64) {
    self.init(path: store.path(forVM: vmID), vmID: vmID, memorySize: memorySize)
    directory = store.handle
  }

  private var pageCount: Int { Int(memorySize / Self.pageSize) }
  private var temporaryName: String { name + ".new" }
  private var temporaryPath: String { path + ".new" }

  /// The file's directory, opened and checked (`TrustedDirectory.open`) the first time it is needed.
  private func openDirectory() throws(SwapError) -> TrustedDirectory {
    if let directory { return directory }
    do {
      let opened = try TrustedDirectory.open(directoryPath)
      directory = opened
      return opened
    } catch {
      throw .directory(error)
    }
  }

  /// Opens the file `name` in the directory (never through a symbolic link); -1 with errno set on failure.
  private func open(_ name: String, flags: Int32) throws(SwapError) -> Int32 {
    try openDirectory().openFile(name, flags: flags)
  }

  // MARK: Writing

  /// Writes the image of `memory` and `state`. With `previous` entries (the image last loaded or committed)
  /// and a `changed` bitmap, only changed pages are stored and the rest are referenced where they already
  /// are; otherwise, or when the file is mostly garbage, a fresh file is written beside the old one.
  /// Nothing is durable until the caller syncs and calls `complete`.
  func write(
    memory: GuestMemory, state: [UInt8], previous: [SwapPageEntry]?, changed: PageBitmap?
  ) throws(SwapError) -> PendingSwapWrite {
    let incremental: (commit: SwapCommit, entries: [SwapPageEntry], changed: PageBitmap)? =
      if let committed, let previous, let changed, committed.fileEnd <= 2 * committed.liveBytes + Self.compactionSlack {
        (committed, previous, changed)
      } else {
        nil
      }
    let fresh = incremental == nil
    let directory = try openDirectory()
    if fresh { directory.remove(temporaryName) }  // a crash's leftover
    let fd = fresh ? directory.createFile(temporaryName, flags: O_WRONLY) : directory.openFile(name, flags: O_WRONLY)
    guard fd >= 0 else { throw .system(path: fresh ? temporaryPath : path, operation: "open", errno: errno) }
    do throws(SwapError) {
      let start = incremental?.commit.fileEnd ?? Self.dataStart
      var writer = PageWriter(fd: fd, path: path, offset: start)
      var entries: [SwapPageEntry] = []
      entries.reserveCapacity(incremental?.entries.count ?? 64)
      try memory.withAllBytes { (all) throws(SwapError) in
        // A revoked view (the memory passed to another guest) shows no bytes.
        guard let base = all.baseAddress, all.count >= pageCount * Int(Self.pageSize) else {
          throw .notResident(vmID: vmID)
        }
        var kept = incremental?.entries[...] ?? []
        for page in 0..<pageCount {
          while let first = kept.first, Int(first.page) < page { kept = kept.dropFirst() }
          let old = kept.first.flatMap { Int($0.page) == page ? $0 : nil }
          if let incremental, !incremental.changed.contains(page) {
            if let old { entries.append(old) }
            continue
          }
          // SAFETY: page < pageCount, so the page lies inside the view of all guest memory.
          let bytes = UnsafeRawPointer(base) + page * Int(Self.pageSize)
          if swap_page_is_zero(bytes, Int(Self.pageSize)) != 0 { continue }
          let crc = swap_crc32c(0, bytes, Int(Self.pageSize))
          entries.append(SwapPageEntry(page: UInt32(page), crc: crc, offset: try writer.append(bytes)))
        }
        try writer.flush()
      }
      let segmentOffset = writer.offset
      var segment = ByteWriter()
      segment.append(Self.segmentMagic)
      let generation = (committed?.generation ?? 0) + 1
      segment.append(generation)
      segment.append(vmID)
      segment.append(memorySize)
      segment.append(UInt32(state.count))
      segment.append(UInt32(entries.count))
      segment.append(bytes: state)
      for entry in entries {
        segment.append(entry.page)
        segment.append(entry.crc)
        segment.append(entry.offset)
      }
      let segmentBytes = segment.bytes
      try Self.writeAll(fd: fd, path: path, segmentBytes, at: segmentOffset)
      let segmentCRC = segmentBytes.withUnsafeBytes { swap_crc32c(0, $0.baseAddress, $0.count) }
      let fileEnd = (segmentOffset + UInt64(segmentBytes.count) + Self.pageSize - 1) / Self.pageSize * Self.pageSize
      let commit = SwapCommit(
        generation: generation, slot: fresh ? 0 : (committed?.slot ?? 1) ^ 1, segmentOffset: segmentOffset,
        segmentLength: UInt32(segmentBytes.count), segmentCRC: segmentCRC, fileEnd: fileEnd,
        liveBytes: Self.dataStart + UInt64(entries.count) * Self.pageSize + UInt64(segmentBytes.count))
      try Self.writeAll(fd: fd, path: path, superblock(for: commit), at: UInt64(commit.slot) * Self.pageSize)
      // The segment and superblock go to the disk now too; the pages went after each run (PageWriter).
      Self.startWriteback(fd: fd, from: 0, count: 0)
      return PendingSwapWrite(
        fd: fd, fresh: fresh, commit: commit, entries: entries, bytesWritten: fileEnd - start,
        pagesWritten: writer.pagesWritten)
    } catch {
      undo(fd: fd, fresh: fresh)
      throw error
    }
  }

  /// Makes a synced write the committed image (renaming a fresh file over the old one).
  func complete(_ pending: PendingSwapWrite) throws(SwapError) {
    close(pending.fd)
    if pending.fresh {
      let directory = try openDirectory()
      guard directory.rename(temporaryName, to: name) else {
        let error = errno
        directory.remove(temporaryName)
        throw .system(path: path, operation: "rename", errno: error)
      }
    }
    committed = pending.commit
  }

  /// Undoes a write that will not be committed: the previous image stays the loadable one.
  func abandon(_ pending: PendingSwapWrite) { undo(fd: pending.fd, fresh: pending.fresh) }

  private func undo(fd: Int32, fresh: Bool) {
    if fresh {
      close(fd)
      directory?.remove(temporaryName)
      return
    }
    if let committed {
      // Invalidate the slot this write used, then drop what it appended; the committed slot is untouched.
      let zeros = [UInt8](repeating: 0, count: Self.superblockSize)
      try? Self.writeAll(fd: fd, path: path, zeros, at: UInt64(committed.slot ^ 1) * Self.pageSize)
      _ = ftruncate(fd, off_t(committed.fileEnd))
    }
    close(fd)
  }

  /// Deletes the file (and any half-written fresh one).
  func remove() {
    if let directory = try? openDirectory() {
      directory.remove(name)
      directory.remove(temporaryName)
    }
    committed = nil
  }

  // MARK: Reading

  /// Reads the newest complete image from disk, as after a restart; the file must exist.
  public func recover() throws(SwapError) {
    let fd = try open(name, flags: O_RDONLY)
    guard fd >= 0 else { throw .system(path: path, operation: "open", errno: errno) }
    defer { close(fd) }
    var reasons: [String] = []
    for commit in try readSuperblocks(fd: fd, reasons: &reasons) {
      do throws(SwapError) {
        _ = try readSegment(fd: fd, commit: commit)
        committed = commit
        return
      } catch {
        reasons.append("generation \(commit.generation): \(error.reason)")
      }
    }
    throw .corrupt(path: path, reason: reasons.isEmpty ? "no image" : reasons.joined(separator: "; "))
  }

  /// The opaque machine state of the committed image, without its pages (the segment's checksum is checked).
  func readState() throws(SwapError) -> [UInt8] {
    guard let commit = committed else { throw .corrupt(path: path, reason: "no committed image") }
    let fd = try open(name, flags: O_RDONLY)
    guard fd >= 0 else { throw .system(path: path, operation: "open", errno: errno) }
    defer { close(fd) }
    return try readSegment(fd: fd, commit: commit).0
  }

  /// Recovers the newest complete image from disk and checks every page's checksum by loading it into
  /// scratch memory; throws when the file holds no intact image.
  public func verify() throws(SwapError) {
    try recover()
    let scratch: GuestMemory
    do throws(KVMError) {
      scratch = try GuestMemory(size: memorySize)
    } catch {
      throw .kvm(error)
    }
    _ = try load(into: scratch)
  }

  /// Loads the committed image into `memory` (which must be all zero) and returns its machine state.
  /// Every checksum is verified; a mismatch refuses the image.
  func load(into memory: GuestMemory) throws(SwapError) -> LoadedSwapImage {
    guard var commit = committed else { throw .corrupt(path: path, reason: "no committed image") }
    let fd = try open(name, flags: O_RDONLY)
    guard fd >= 0 else { throw .system(path: path, operation: "open", errno: errno) }
    defer { close(fd) }
    // Decided before the segment is read (which brings its own pages into the cache).
    let direct = pagesMostlyUncached(fd: fd, commit: commit)
    let (state, entries) = try readSegment(fd: fd, commit: commit)
    // A file system that refuses O_DIRECT at open: read through the page cache instead.
    let directFD = direct ? ((try? open(name, flags: O_RDONLY | swap_direct_io_flag())) ?? -1) : -1
    defer { if directFD >= 0 { close(directFD) } }
    try memory.withRestoringBytes { (all) throws(SwapError) in
      guard let base = all.baseAddress, all.count >= pageCount * Int(Self.pageSize) else {
        throw .notResident(vmID: vmID)
      }
      var reader = PageReader(fd: directFD >= 0 ? directFD : fd, path: path)
      for entry in entries {
        // SAFETY: entries were checked to name pages below pageCount, which lie inside the view (checked above).
        let destination = base + Int(entry.page) * Int(Self.pageSize)
        try reader.read(into: destination, at: entry.offset)
      }
      try reader.flush()
      for entry in entries {
        // SAFETY: as above; the page was just read.
        let bytes = UnsafeRawPointer(base) + Int(entry.page) * Int(Self.pageSize)
        guard checksumMatches(entry.crc, swap_crc32c(0, bytes, Int(Self.pageSize))) else {
          throw .corrupt(path: path, reason: "page \(entry.page) fails its checksum")
        }
      }
    }
    commit.liveBytes = Self.dataStart + UInt64(entries.count) * Self.pageSize + UInt64(commit.segmentLength)
    committed = commit
    return LoadedSwapImage(state: state, entries: entries, commit: commit)
  }

  /// Whether most of the file's page records (from the superblocks to `commit`'s segment) are not in the page
  /// cache: then the load reads them with O_DIRECT, straight from the disk into guest memory in requests of up to
  /// 4 MiB, instead of into the cache first and copied from there (the cache's pages are allocated, filled and
  /// copied for nothing: the image is read once). A file still cached (a VM swapped out a moment ago) is read
  /// from the cache. False when the kernel cannot tell (`cachestat`, Linux 6.5).
  private func pagesMostlyUncached(fd: Int32, commit: SwapCommit) -> Bool {
    guard commit.segmentOffset > Self.dataStart else { return false }
    let length = commit.segmentOffset - Self.dataStart
    let cached = swap_cached_pages(fd, Self.dataStart, length)
    return cached >= 0 && UInt64(cached) * 2 < length / Self.pageSize
  }

  /// The valid superblocks, newest first.
  private func readSuperblocks(fd: Int32, reasons: inout [String]) throws(SwapError) -> [SwapCommit] {
    var status = stat()
    guard fstat(fd, &status) == 0 else { throw .system(path: path, operation: "fstat", errno: errno) }
    let fileSize = UInt64(max(status.st_size, 0))
    var bytes = [UInt8](repeating: 0, count: Int(Self.dataStart))
    let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
    guard count >= 0 else { throw .system(path: path, operation: "read", errno: errno) }
    var commits: [SwapCommit] = []
    for slot in 0..<2 {
      let start = slot * Int(Self.pageSize)
      guard count >= start + Self.superblockSize else {
        reasons.append("superblock \(slot) missing")
        continue
      }
      let block = Array(bytes[start..<(start + Self.superblockSize)])
      switch parseSuperblock(block, slot: UInt32(slot), fileSize: fileSize) {
      case .success(let commit): commits.append(commit)
      case .failure(let reason): reasons.append("superblock \(slot): \(reason)")
      }
    }
    return commits.sorted { $0.generation > $1.generation }
  }

  private enum Parsed {
    case success(SwapCommit)
    case failure(String)
  }

  private func superblock(for commit: SwapCommit) -> [UInt8] {
    var writer = ByteWriter()
    writer.append(Self.superblockMagic)
    writer.append(Self.formatVersion)
    writer.append(commit.slot)
    writer.append(commit.generation)
    writer.append(vmID)
    writer.append(memorySize)
    writer.append(commit.segmentOffset)
    writer.append(commit.segmentLength)
    writer.append(commit.segmentCRC)
    writer.append(commit.fileEnd)
    let crc = writer.bytes.withUnsafeBytes { swap_crc32c(0, $0.baseAddress, $0.count) }
    writer.append(crc)
    writer.pad(to: Self.superblockSize)
    return writer.bytes
  }

  /// Largest segment an image of this VM can have: its header, the largest machine state, an entry per page.
  private var maximumSegmentLength: UInt64 {
    UInt64(Self.segmentHeaderSize + Self.maximumStateBytes + pageCount * Self.entrySize)
  }

  /// The commit a superblock records, every number checked against the file's actual size and the VM before any
  /// arithmetic or allocation uses it: the segment lies inside the file, is no longer than an image of this VM
  /// can be, and ends where the recorded file end says.
  private func parseSuperblock(_ block: [UInt8], slot: UInt32, fileSize: UInt64) -> Parsed {
    var reader = ByteReader(block)
    guard reader.read(UInt64.self) == Self.superblockMagic else { return .failure("no superblock magic") }
    guard reader.read(UInt32.self) == Self.formatVersion else { return .failure("unknown format version") }
    guard let storedSlot = reader.read(UInt32.self), let generation = reader.read(UInt64.self),
      let storedID = reader.read(UInt64.self), let storedSize = reader.read(UInt64.self),
      let segmentOffset = reader.read(UInt64.self), let segmentLength = reader.read(UInt32.self),
      let segmentCRC = reader.read(UInt32.self), let fileEnd = reader.read(UInt64.self)
    else { return .failure("truncated") }
    let covered = reader.offset
    guard let crc = reader.read(UInt32.self),
      checksumMatches(crc, block[0..<covered].withUnsafeBytes { swap_crc32c(0, $0.baseAddress, $0.count) })
    else { return .failure("checksum mismatch") }
    guard storedSlot == slot else { return .failure("written for slot \(storedSlot)") }
    guard storedID == vmID else { return .failure("image of VM \(storedID), not \(vmID)") }
    guard storedSize == memorySize else { return .failure("image of \(storedSize) bytes, not \(memorySize)") }
    let length = UInt64(segmentLength)
    guard segmentOffset >= Self.dataStart, segmentOffset % Self.pageSize == 0, segmentOffset <= fileSize,
      length >= Self.segmentHeaderSize, length <= fileSize - segmentOffset, length <= maximumSegmentLength
    else {
      return .failure("segment (\(segmentLength) bytes at \(segmentOffset)) out of range of a \(fileSize)-byte file")
    }
    let end = segmentOffset + length
    guard fileEnd == (end + Self.pageSize - 1) / Self.pageSize * Self.pageSize else {
      return .failure("file end \(fileEnd) does not follow its segment")
    }
    return .success(
      SwapCommit(
        generation: generation, slot: slot, segmentOffset: segmentOffset, segmentLength: segmentLength,
        segmentCRC: segmentCRC, fileEnd: fileEnd, liveBytes: 0))
  }

  /// Reads and checks the segment of `commit`: returns its machine state and page entries.
  private func readSegment(fd: Int32, commit: SwapCommit) throws(SwapError) -> ([UInt8], [SwapPageEntry]) {
    var bytes = [UInt8](repeating: 0, count: Int(commit.segmentLength))
    let ok = bytes.withUnsafeMutableBytes { buffer in
      // SAFETY: the buffer is exactly segmentLength bytes.
      transferAll(count: buffer.count) { done in
        pread(
          fd, buffer.baseAddress.unsafelyUnwrapped + done, buffer.count - done,
          off_t(commit.segmentOffset) + off_t(done))
      }
    }
    guard ok else { throw .corrupt(path: path, reason: "segment at \(commit.segmentOffset) is cut short") }
    guard checksumMatches(commit.segmentCRC, bytes.withUnsafeBytes { swap_crc32c(0, $0.baseAddress, $0.count) }) else {
      throw .corrupt(path: path, reason: "segment fails its checksum")
    }
    var reader = ByteReader(bytes)
    guard reader.read(UInt64.self) == Self.segmentMagic, reader.read(UInt64.self) == commit.generation,
      reader.read(UInt64.self) == vmID, reader.read(UInt64.self) == memorySize,
      let stateLength = reader.read(UInt32.self), let entryCount = reader.read(UInt32.self),
      stateLength <= Self.maximumStateBytes, entryCount <= pageCount,
      let state = reader.read(count: Int(stateLength)),
      reader.remaining == Int(entryCount) * Self.entrySize
    else { throw .corrupt(path: path, reason: "segment header does not match its superblock") }
    var entries: [SwapPageEntry] = []
    entries.reserveCapacity(Int(entryCount))
    var lastPage: Int64 = -1
    for _ in 0..<entryCount {
      guard let page = reader.read(UInt32.self), let crc = reader.read(UInt32.self),
        let offset = reader.read(UInt64.self), Int64(page) > lastPage, Int(page) < pageCount,
        offset >= Self.dataStart, offset % Self.pageSize == 0, offset <= commit.segmentOffset - Self.pageSize
      else { throw .corrupt(path: path, reason: "a page entry is out of range") }
      lastPage = Int64(page)
      entries.append(SwapPageEntry(page: page, crc: crc, offset: offset))
    }
    return (Array(state), entries)
  }

  // MARK: Helpers

  /// Starts writing `count` bytes of the file from `offset` (0: to its end) to the disk without waiting, so that
  /// the disk works while the next pages and VMs of the batch are checksummed and copied, and the batch's sync
  /// waits only for the rest. Only a head start: the sync still makes everything durable (and reports any write
  /// error), so a failure here changes nothing and is not reported.
  fileprivate static func startWriteback(fd: Int32, from offset: UInt64, count: UInt64) {
    _ = swap_start_writeback(fd, Int64(clamping: offset), Int64(clamping: count))
  }

  fileprivate static func writeAll(fd: Int32, path: String, _ bytes: [UInt8], at offset: UInt64) throws(SwapError) {
    let ok = bytes.withUnsafeBytes { buffer in
      transferAll(count: buffer.count) { done in
        // SAFETY: done < buffer.count, so the source stays inside the buffer.
        pwrite(fd, buffer.baseAddress.unsafelyUnwrapped + done, buffer.count - done, off_t(offset) + off_t(done))
      }
    }
    guard ok else { throw .system(path: path, operation: "write", errno: errno == 0 ? EIO : errno) }
  }
}

/// Appends whole pages to a file with few system calls: gathers runs of pages into one pwritev, and starts each
/// run's writeback as soon as it is written.
private struct PageWriter {
  let fd: Int32
  let path: String
  /// Where the next page goes.
  private(set) var offset: UInt64
  private(set) var pagesWritten = 0
  private var batch: [iovec] = []
  private var batchStart: UInt64

  init(fd: Int32, path: String, offset: UInt64) {
    self.fd = fd
    self.path = path
    self.offset = offset
    self.batchStart = offset
    batch.reserveCapacity(Self.batchLimit)
  }

  private static let batchLimit = 256

  /// Queues the page at `bytes` and returns the file offset it will occupy.
  mutating func append(_ bytes: UnsafeRawPointer) throws(SwapError) -> UInt64 {
    let at = offset
    batch.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes), iov_len: Int(SwapFile.pageSize)))
    offset += SwapFile.pageSize
    pagesWritten += 1
    if batch.count == Self.batchLimit { try flush() }
    return at
  }

  /// Writes the queued pages.
  mutating func flush() throws(SwapError) {
    guard !batch.isEmpty else { return }
    var index = 0
    var position = batchStart
    var skip = 0  // bytes of batch[index] already written
    while index < batch.count {
      var slice = Array(batch[index...])
      slice[0].iov_base = slice[0].iov_base.map { $0 + skip }
      slice[0].iov_len -= skip
      let written = slice.withUnsafeBufferPointer { vectors in
        // SAFETY: every iovec points into guest memory that stays mapped while the caller holds its view.
        pwritev(fd, vectors.baseAddress, Int32(vectors.count), off_t(position))
      }
      if written < 0 && errno == EINTR { continue }
      guard written > 0 else {
        throw .system(path: path, operation: "write", errno: written == 0 ? ENOSPC : errno)
      }
      position += UInt64(written)
      var remaining = written + skip
      skip = 0
      while index < batch.count && remaining >= batch[index].iov_len {
        remaining -= batch[index].iov_len
        index += 1
      }
      skip = remaining
    }
    SwapFile.startWriteback(fd: fd, from: batchStart, count: offset - batchStart)
    batch.removeAll(keepingCapacity: true)
    batchStart = offset
  }
}

/// Reads pages at scattered file offsets into guest memory, merging runs of consecutive offsets into one
/// preadv of up to 1,024 pages (4 MiB; every page and offset is page aligned, as O_DIRECT needs).
private struct PageReader {
  let fd: Int32
  let path: String
  private var batch: [iovec] = []
  private var batchStart: UInt64 = 0

  init(fd: Int32, path: String) {
    self.fd = fd
    self.path = path
  }

  /// Pages per preadv at most (IOV_MAX).
  private static let batchLimit = 1024

  /// Queues reading the page at file offset `offset` into `destination`.
  mutating func read(into destination: UnsafeMutableRawPointer, at offset: UInt64) throws(SwapError) {
    if !batch.isEmpty, batchStart + UInt64(batch.count) * SwapFile.pageSize != offset || batch.count == Self.batchLimit
    {
      try flush()
    }
    if batch.isEmpty { batchStart = offset }
    batch.append(iovec(iov_base: destination, iov_len: Int(SwapFile.pageSize)))
  }

  /// Performs the queued reads.
  mutating func flush() throws(SwapError) {
    guard !batch.isEmpty else { return }
    let total = batch.count * Int(SwapFile.pageSize)
    var done = 0
    while done < total {
      // Restart from the first page not fully read (short reads are rare: only at a damaged end of file).
      let first = done / Int(SwapFile.pageSize)
      var slice = Array(batch[first...])
      let skip = done - first * Int(SwapFile.pageSize)
      slice[0].iov_base = slice[0].iov_base.map { $0 + skip }
      slice[0].iov_len -= skip
      let count = slice.withUnsafeBufferPointer { vectors in
        // SAFETY: every iovec points at a page of guest memory inside the caller's view.
        preadv(fd, vectors.baseAddress, Int32(vectors.count), off_t(batchStart) + off_t(done))
      }
      if count < 0 && errno == EINTR { continue }
      guard count > 0 else {
        if count == 0 { throw .corrupt(path: path, reason: "a page lies past the end of the file") }
        throw .system(path: path, operation: "read", errno: errno)
      }
      done += count
    }
    batch.removeAll(keepingCapacity: true)
  }
}

extension SwapError {
  /// The message without the file name (for lists of reasons).
  fileprivate var reason: String {
    switch self {
    case .corrupt(_, let reason): reason
    case .system(let failure): "\(failure.operation): \(failure.reason)"
    case .kvm(let error): "\(error)"
    case .notResident, .noImage: description
    case .directory(let error): "\(error)"
    }
  }
}
