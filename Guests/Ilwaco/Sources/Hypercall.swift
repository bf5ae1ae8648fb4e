// Hypercall.swift: hypercalls issued directly, for benchmarks and for guests that test the host.

/// Raw hypercalls. Normal guests use `Console`, `idle`, `BlockDevice` and friends instead.
public enum Hypercall {
  /// `DENALI_HC_NOP`: a round trip to the host that does nothing; returns `ret` (0).
  @discardableResult
  public static func nop() -> Int64 { ilwaco_hc_nop() }

  /// Issues hypercall `number` (0-63) on the struct at `request`, which must start with `ret` and be laid
  /// out as that call's struct; the host writes its results there.
  public static func call(number: UInt32, request: UnsafeMutableRawPointer) {
    ilwaco_hypercall(number, request)
  }

  /// Issues hypercall `number` with the raw struct address `address` (truncated to the 32 bits of the
  /// OUT), unchecked: it may be misaligned or outside guest memory, which stops the VM (status 165).
  public static func call(number: UInt32, address: UInt64) {
    ilwaco_hypercall_raw(number, UInt32(truncatingIfNeeded: address))
  }
}
