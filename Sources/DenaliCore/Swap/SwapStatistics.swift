// SwapStatistics.swift: running totals of the swap threads' work.

/// Totals over every swap-out and swap-in so far.
public struct SwapStatistics: Sendable, Equatable {
  /// Swap-outs committed.
  public var swapOuts: UInt64 = 0
  /// Swap-ins (restores from a swap file).
  public var swapIns: UInt64 = 0
  /// First loads from the image (boots) done by the gatekeeper.
  public var boots: UInt64 = 0
  /// Swap-outs that failed and left the VM resident.
  public var swapOutFailures: UInt64 = 0
  /// Swap-ins or boots that failed (the VM ended with a fault).
  public var loadFailures: UInt64 = 0
  /// Pages written (changed and not zero).
  public var pagesWritten: UInt64 = 0
  /// Bytes appended to swap files (pages and segments).
  public var bytesWritten: UInt64 = 0
  /// Pages read back by swap-ins.
  public var pagesRead: UInt64 = 0
  /// Syncs that made batches of swap-outs durable.
  public var syncs: UInt64 = 0
  /// Wall time the swap threads spent swapping out (writing and syncing) and in, nanoseconds.
  public var swapOutNanoseconds: UInt64 = 0, swapInNanoseconds: UInt64 = 0

  /// All zero.
  public init() {}
}
