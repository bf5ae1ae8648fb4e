// MemoryFile.swift: an anonymous memory file (memfd) written once and then sealed: pages that MemoryRegions map
// copy-on-write, so that every guest mapping it shares the pages it never writes.
import CKVM
import Glibc

/// A memory file of `length` bytes: written page by page (holes read as zero), then sealed against any change.
public final class MemoryFile: @unchecked Sendable {
  /// The file descriptor.
  public let fd: Int32
  /// Size in bytes (a multiple of the page size).
  public let length: UInt64
  /// True once sealed: no write, shrink or grow can change it any more.
  public private(set) var isSealed = false

  /// Creates an empty (all holes) file of `length` bytes; `name` appears in `/proc/PID/maps`.
  public init(name: String, length: UInt64) throws(KVMError) {
    guard length > 0, length % GuestMemory.pageSize == 0, length <= UInt64(Int.max) else {
      throw KVMError(operation: "MemoryFile(length: \(length))", errno: EINVAL)
    }
    let fd = ckvm_memory_file_create(name)
    guard fd >= 0 else { throw KVMError.last("memfd_create") }
    guard ftruncate(fd, off_t(length)) == 0 else {
      let error = KVMError.last("ftruncate memory file")
      close(fd)
      throw error
    }
    self.fd = fd
    self.length = length
  }

  deinit { close(fd) }

  /// Writes `bytes` at `offset` (inside the file); only before `seal()`.
  public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(KVMError) {
    let (end, overflow) = offset.addingReportingOverflow(UInt64(bytes.count))
    guard !isSealed, !overflow, end <= length, let base = bytes.baseAddress else {
      throw KVMError(operation: "MemoryFile.write(\(bytes.count) bytes at \(offset))", errno: EINVAL)
    }
    var done = 0
    while done < bytes.count {
      // SAFETY: [base + done, base + bytes.count) lies inside `bytes`.
      let written = pwrite(fd, base + done, bytes.count - done, off_t(offset) + off_t(done))
      if written < 0 && errno == EINTR { continue }
      guard written > 0 else { throw KVMError(operation: "pwrite memory file", errno: written < 0 ? errno : EIO) }
      done += written
    }
  }

  /// Seals the file: from now on nothing can write to it, shrink it or grow it (private mappings still may be
  /// written: their writers get copies).
  public func seal() throws(KVMError) {
    guard ckvm_memory_file_seal(fd) == 0 else { throw KVMError.last("fcntl(F_ADD_SEALS)") }
    isSealed = true
  }
}
