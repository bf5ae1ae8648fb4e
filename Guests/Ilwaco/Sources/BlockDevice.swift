// BlockDevice.swift: the virtual disk: fixed-size, 4 KiB blocks, synchronous reads and writes.

/// The VM's virtual disk (at most one). Requests are synchronous: a call returns when the data has moved.
public enum BlockDevice {
  /// Bytes per block (`DENALI_DISK_BLOCK_SIZE`).
  public static let blockSize = Int(DENALI_DISK_BLOCK_SIZE)

  /// Most blocks one `read` or `write` may move (`DENALI_DISK_IO_MAX_BLOCKS`).
  public static let maximumBlocksPerRequest = Int(DENALI_DISK_IO_MAX_BLOCKS)

  /// The disk's size in blocks and whether it is read-only, or nil if the VM has no disk.
  public static func info() -> (blocks: UInt64, readOnly: Bool)? {
    var blocks: UInt64 = 0
    var flags: UInt64 = 0
    guard ilwaco_hc_disk_info(&blocks, &flags) >= 0, blocks > 0 else { return nil }
    return (blocks, flags & DENALI_DISK_READ_ONLY != 0)
  }

  /// Reads `count` blocks starting at `block` into `buffer` (`count * blockSize` bytes). Returns the
  /// host's `ret`: `count` on success, or a negative `DENALI_E*` error (ENODEV, ERANGE, EFAULT, EINVAL, EIO).
  public static func read(block: UInt64, count: Int, into buffer: UnsafeMutableRawPointer) -> Int64 {
    // SAFETY: the host checks [buffer, buffer + count * blockSize) against guest memory and writes only there;
    // the caller owns those bytes.
    ilwaco_hc_disk_io(
      DENALI_HC_DISK_READ, block, UInt64(truncatingIfNeeded: count), UInt64(UInt(bitPattern: buffer)))
  }

  /// Writes `count` blocks starting at `block` from `buffer` (`count * blockSize` bytes). Returns the
  /// host's `ret`: `count` on success, or a negative `DENALI_E*` error (as `read`, plus EROFS).
  public static func write(block: UInt64, count: Int, from buffer: UnsafeRawPointer) -> Int64 {
    // SAFETY: the host checks [buffer, buffer + count * blockSize) against guest memory and only reads it.
    ilwaco_hc_disk_io(
      DENALI_HC_DISK_WRITE, block, UInt64(truncatingIfNeeded: count), UInt64(UInt(bitPattern: buffer)))
  }
}
