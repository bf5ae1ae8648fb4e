// MemoryRegion.swift: a fixed range of host addresses that backs guest memory, whose pages can be replaced
// without moving it: anonymous memory, or a file's pages mapped privately (copy-on-write) followed by
// anonymous memory. A memory slot keeps pointing at the same addresses while the pages behind them change.
import CKVM
import Glibc

/// A range of host memory at a fixed address, backing a guest's physical memory.
///
/// Its pages are either all anonymous (zero until written), or the first `length` bytes are a file's pages mapped
/// privately (every writer gets its own copy of a page it writes; pages nobody writes stay the file's, shared
/// by every mapping of the file) and the rest anonymous. `discardPages()` drops every private page at once.
public final class MemoryRegion: @unchecked Sendable {
  /// What the region's pages are.
  public enum Backing: Equatable, Sendable {
    /// Anonymous memory: zero until written.
    case anonymous
    /// The first `length` bytes are file `id`'s pages, copy-on-write; anonymous after.
    case file(id: UInt64, length: UInt64)
  }

  /// Size in bytes (a multiple of the page size).
  public let size: UInt64
  /// Host address of the first byte.
  let baseAddress: UnsafeMutableRawPointer
  /// What the pages are now. Changed only by the region's owner, while nothing runs on it.
  public private(set) var backing: Backing = .anonymous

  /// Maps `size` bytes of anonymous, lazily allocated memory (no swap reservation); `size` must be a non-zero
  /// multiple of 4 KiB. With `file` (sealed, at most `size` bytes), its pages are mapped privately at the start
  /// of the region as `mapPrivately(_:id:)` would, but without replacing any mapping first (see `placeNew`).
  public init(size: UInt64, mapping file: MemoryFile? = nil, id: UInt64 = 0) throws(KVMError) {
    guard size > 0, size % GuestMemory.pageSize == 0, size <= UInt64(Int.max) else {
      throw KVMError(operation: "MemoryRegion(size: \(size))", errno: EINVAL)
    }
    self.size = size
    if let file, file.isSealed, file.length <= size, let placed = Self.placeNew(size: size, file: file) {
      baseAddress = placed
      backing = .file(id: id, length: file.length)
      return
    }
    let pointer = mmap(nil, Int(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
    guard let pointer, pointer != MAP_FAILED else { throw KVMError.last("mmap guest memory") }
    baseAddress = pointer
    if let file { try mapPrivately(file, id: id) }
  }

  /// Maps `file` privately followed by anonymous memory, `size` bytes in all, where nothing is mapped yet: the
  /// anonymous part first, wherever the kernel puts it, then the file just below it with
  /// `MAP_FIXED_NOREPLACE` (the kernel hands out addresses from the top down, so the range below the newest
  /// mapping is usually free). Replacing a mapping (`MAP_FIXED`) calls every memory notifier of the process,
  /// one per KVM VM: with thousands of VMs, far more than the mapping itself costs. Nil when the range below
  /// was taken (the caller falls back to `MAP_FIXED`).
  private static func placeNew(size: UInt64, file: MemoryFile) -> UnsafeMutableRawPointer? {
    let tail = Int(size - file.length)
    var tailStart: UnsafeMutableRawPointer?
    if tail > 0 {
      let pointer = mmap(nil, tail, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
      guard let pointer, pointer != MAP_FAILED else { return nil }
      tailStart = pointer
    }
    let wanted = tailStart.map { $0 - Int(file.length) }
    let flags = MAP_PRIVATE | MAP_NORESERVE | (wanted == nil ? 0 : CKVM_MAP_FIXED_NOREPLACE)
    let pointer = mmap(wanted, Int(file.length), PROT_READ | PROT_WRITE, flags, file.fd, 0)
    guard let pointer, pointer != MAP_FAILED, wanted == nil || pointer == wanted else {
      if let pointer, pointer != MAP_FAILED { munmap(pointer, Int(file.length)) }
      if let tailStart { munmap(tailStart, tail) }
      return nil
    }
    return pointer
  }

  deinit { munmap(baseAddress, Int(size)) }

  /// Makes every page anonymous. Pages that already were anonymous keep their contents: a region handed from
  /// one guest to another has its pages discarded first (`discardPages()`).
  public func mapAnonymous() throws(KVMError) {
    guard backing != .anonymous else { return }
    try mapAnonymous(from: 0)
    backing = .anonymous
  }

  /// Maps all of `file` (sealed, at most the region's size) privately over the start of the region, the rest
  /// being anonymous; `id` names the file's content for `backing`. Pages that were anonymous before and stay
  /// so keep their contents, as in `mapAnonymous()`.
  public func mapPrivately(_ file: MemoryFile, id: UInt64) throws(KVMError) {
    let length = file.length
    guard file.isSealed, length <= size else {
      throw KVMError(operation: "MemoryRegion.mapPrivately(\(length) bytes, sealed: \(file.isSealed))", errno: EINVAL)
    }
    let wanted = Backing.file(id: id, length: length)
    guard backing != wanted else { return }
    // A longer file part before: its end becomes anonymous memory again.
    if case .file(_, let previous) = backing, previous > length { try mapAnonymous(from: length) }
    backing = .anonymous
    // SAFETY: the range [baseAddress, baseAddress + length) is this region's own, so MAP_FIXED replaces only it.
    let pointer = mmap(
      baseAddress, Int(length), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, file.fd, 0)
    guard pointer == baseAddress else {
      let error = KVMError.last("mmap guest memory template")
      try? mapAnonymous(from: 0)
      throw error
    }
    backing = wanted
  }

  /// Drops every page written since the pages were mapped: anonymous pages read zero again, and file pages the
  /// file's own contents. No guest may run on the region meanwhile.
  public func discardPages() throws(KVMError) {
    guard madvise(baseAddress, Int(size), MADV_DONTNEED) == 0 else { throw KVMError.last("madvise(MADV_DONTNEED)") }
  }

  /// Maps anonymous memory over `[offset, size)`.
  private func mapAnonymous(from offset: UInt64) throws(KVMError) {
    // SAFETY: the range lies inside this region, so MAP_FIXED replaces only the region's own pages.
    let start = baseAddress + Int(offset)
    let pointer = mmap(
      start, Int(size - offset), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0)
    guard pointer == start else { throw KVMError.last("mmap guest memory") }
  }
}
