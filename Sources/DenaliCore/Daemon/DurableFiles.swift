// DurableFiles.swift: the system-call loops the VM journal and the image store write and read files with.
import Glibc

/// Writes all of `bytes` to `fd` at its current offset (or its end, with O_APPEND), retrying EINTR and
/// continuing after short writes; false with errno set when a write fails (ENOSPC for one that wrote nothing).
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
  bytes.withUnsafeBytes { buffer in
    guard let base = buffer.baseAddress else { return true }
    return transferAll(count: buffer.count) { done in
      // SAFETY: done < buffer.count, so base + done and the rest of the buffer lie inside it.
      write(fd, base + done, buffer.count - done)
    }
  }
}

/// Reads `fd` from offset 0 to its end of file, retrying EINTR, but never more than `limit` bytes: nil with errno
/// set when a read fails, or EFBIG when the file holds more than `limit` bytes (nothing beyond is allocated).
func readWholeFile(_ fd: Int32, limit: Int) -> [UInt8]? {
  var status = stat()
  guard fstat(fd, &status) == 0 else { return nil }
  guard status.st_size <= off_t(limit) else {
    errno = EFBIG
    return nil
  }
  var bytes = [UInt8](repeating: 0, count: max(Int(status.st_size), 0))
  var done = 0
  while true {
    if done == bytes.count {  // the file grew
      guard bytes.count <= limit else {
        errno = EFBIG
        return nil
      }
      bytes.append(contentsOf: repeatElement(0, count: min(65536, limit + 1 - bytes.count)))
    }
    let count = bytes.withUnsafeMutableBytes { buffer -> Int in
      guard let base = buffer.baseAddress else { return 0 }
      // SAFETY: done < buffer.count, so the read stays inside the buffer.
      return pread(fd, base + done, buffer.count - done, off_t(done))
    }
    if count < 0 && errno == EINTR { continue }
    guard count >= 0 else { return nil }
    if count == 0 { break }
    done += count
  }
  guard done <= limit else {
    errno = EFBIG
    return nil
  }
  bytes.removeSubrange(done...)
  return bytes
}
