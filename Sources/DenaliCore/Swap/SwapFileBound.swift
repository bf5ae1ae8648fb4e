// SwapFileBound.swift: the most disk one VM's swap file can ever take, from the file's own layout rules, so that
// the daemon can admit only VMs it can always swap out under its `swap-limit`.

extension SwapFile {
  /// The most bytes of disk the swap file of a VM with `memorySize` bytes of guest memory can take at any moment,
  /// a temporary fresh copy included.
  ///
  /// One image is at most the two superblocks, every page, and a segment of its header, the largest machine state
  /// a segment may hold and one entry per page. A swap-out appends to the file only while the file is at most
  /// twice its committed image plus the compaction slack, and appends at most one image: so the file is at most
  /// three images plus the slack. The swap-out that finds it larger writes a fresh file (one image) beside it
  /// before the rename: four images plus the slack in all. Every term is rounded up to whole pages.
  public static func worstCaseDiskBytes(memorySize: UInt64) -> UInt64 {
    let pages = (memorySize + pageSize - 1) / pageSize
    let segment = UInt64(segmentHeaderSize) + UInt64(maximumStateBytes) + pages * UInt64(entrySize)
    let image = dataStart + pages * pageSize + (segment + pageSize - 1) / pageSize * pageSize
    return 4 * image + compactionSlack
  }
}
