// GuestMemory.swift: a guest's physical memory, mapped in the host and reached only through checked accessors.
import Glibc

/// An access that would fall outside guest memory (or wrap around the address space).
public struct GuestMemoryError: Error, Equatable, Sendable, CustomStringConvertible {
  /// First guest-physical address of the refused access.
  public let address: UInt64
  /// Length in bytes of the refused access.
  public let length: UInt64
  /// Size of the guest memory the access was checked against.
  public let memorySize: UInt64

  /// A one-line message naming the range and the memory size.
  public var description: String {
    "guest access of \(length) bytes at 0x\(String(address, radix: 16)) is outside guest memory (0x\(String(memorySize, radix: 16)) bytes)"
  }
}

/// One guest's view of the host memory backing its physical address space `[0, size)` (a `MemoryRegion`).
/// Every access goes through a bounds check; nothing outside hands out raw pointers unchecked. When the region
/// passes to another guest, this view is revoked first: every access through it fails from then on.
public final class GuestMemory: @unchecked Sendable {
  /// Bytes per page.
  public static let pageSize: UInt64 = 4096
  /// Size in bytes (a multiple of the page size).
  public let size: UInt64
  /// The host memory behind the view.
  public let region: MemoryRegion
  /// Host address of guest-physical address 0.
  @usableFromInline let baseAddress: UnsafeMutableRawPointer
  /// True once the view was revoked: the region may hold another guest's memory.
  @usableFromInline private(set) var isRevoked = false
  /// Pages written through this accessor since tracking started (KVM's dirty log sees only guest writes).
  private var hostWrites: PageBitmap?

  /// Number of pages.
  public var pageCount: Int { Int(size / Self.pageSize) }

  /// Where the bookkeeping of a host write lives (the set of pages the host wrote), as a number for cache
  /// prefetch hints only (0: not tracked).
  public var hostWritesHintAddress: UInt {
    hostWrites?.words.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } ?? 0
  }

  /// The host address of guest-physical `address` as a number, for cache prefetch hints only (0 when it lies
  /// outside this view or the view was revoked). Not a way in: a hint to a stale address only wastes a fetch.
  public func hintAddress(of address: UInt64) -> UInt {
    guard !isRevoked, address < size else { return 0 }
    return UInt(bitPattern: baseAddress) &+ UInt(address)
  }

  /// Starts (or restarts) recording the pages the host writes through this accessor.
  public func trackHostWrites() { hostWrites = PageBitmap(pageCount: pageCount) }

  /// Returns the pages the host wrote since tracking started or since the last call, and clears the record.
  /// Returns every page when tracking was never started.
  public func takeHostWrites() -> PageBitmap {
    defer { if hostWrites != nil { hostWrites = PageBitmap(pageCount: pageCount) } }
    return hostWrites ?? .all(pageCount: pageCount)
  }

  /// Records that the checked range `[address, address + length)` was written by the host.
  private func noteWrite(_ address: UInt64, _ length: UInt64) {
    guard hostWrites != nil, length > 0 else { return }
    var page = Int(address / Self.pageSize)
    let last = Int((address + length - 1) / Self.pageSize)
    while page <= last {
      hostWrites?.insert(page)
      page += 1
    }
  }

  /// Maps `size` bytes of zeroed, lazily allocated memory of its own; `size` must be a non-zero multiple of 4 KiB.
  public convenience init(size: UInt64) throws(KVMError) {
    guard size > 0, size % 4096 == 0, size <= UInt64(Int.max) else {
      throw KVMError(operation: "GuestMemory(size: \(size))", errno: EINVAL)
    }
    self.init(region: try MemoryRegion(size: size))
  }

  /// A view of all of `region`.
  public init(region: MemoryRegion) {
    self.region = region
    self.size = region.size
    self.baseAddress = region.baseAddress
  }

  /// Ends the view: every later access through it fails (checked accessors throw; the whole-memory views see
  /// no bytes). Called before the region is handed to another guest.
  public func revoke() { isRevoked = true }

  /// True when `[address, address + length)` lies inside guest memory without wrapping (and the view is live).
  @inlinable
  public func contains(address: UInt64, length: UInt64) -> Bool {
    let (end, overflow) = address.addingReportingOverflow(length)
    return !overflow && end <= size && !isRevoked
  }

  @usableFromInline
  func check(_ address: UInt64, _ length: UInt64) throws(GuestMemoryError) {
    guard contains(address: address, length: length) else {
      throw GuestMemoryError(address: address, length: length, memorySize: isRevoked ? 0 : size)
    }
  }

  /// Reads a little-endian integer at `address` (inlinable: the host's page walks and hypercall decoding
  /// read guest memory on every exit).
  @inlinable
  public func read<T: FixedWidthInteger>(_ type: T.Type, at address: UInt64) throws(GuestMemoryError) -> T {
    try check(address, UInt64(MemoryLayout<T>.size))
    // SAFETY: the range was checked to lie inside the mapping; unaligned loads are allowed.
    return T(littleEndian: baseAddress.loadUnaligned(fromByteOffset: Int(address), as: T.self))
  }

  /// Writes a little-endian integer at `address`.
  public func write<T: FixedWidthInteger>(_ value: T, at address: UInt64) throws(GuestMemoryError) {
    try check(address, UInt64(MemoryLayout<T>.size))
    noteWrite(address, UInt64(MemoryLayout<T>.size))
    // SAFETY: the range was checked to lie inside the mapping.
    baseAddress.storeBytes(of: value.littleEndian, toByteOffset: Int(address), as: T.self)
  }

  /// Reads the byte at `address` (not generic: the host reads guest code a byte at a time on every exit).
  @inlinable
  public func byte(at address: UInt64) throws(GuestMemoryError) -> UInt8 {
    try check(address, 1)
    // SAFETY: the byte was checked to lie inside the mapping.
    return baseAddress.load(fromByteOffset: Int(address), as: UInt8.self)
  }

  /// Reads the little-endian 64-bit word at `address` (not generic: page walks read several per exit).
  @inlinable
  public func word(at address: UInt64) throws(GuestMemoryError) -> UInt64 {
    try check(address, 8)
    // SAFETY: the range was checked to lie inside the mapping; unaligned loads are allowed.
    return UInt64(littleEndian: baseAddress.loadUnaligned(fromByteOffset: Int(address), as: UInt64.self))
  }

  /// Reads a plain C struct (or any bitwise-copyable value) at `address`, unaligned.
  @inlinable
  public func load<T: BitwiseCopyable>(_ type: T.Type, at address: UInt64) throws(GuestMemoryError) -> T {
    try check(address, UInt64(MemoryLayout<T>.size))
    // SAFETY: the range was checked; T is bitwise-copyable, so any bytes form a valid value.
    return baseAddress.loadUnaligned(fromByteOffset: Int(address), as: T.self)
  }

  /// Writes a plain C struct (or any bitwise-copyable value) at `address`, unaligned.
  public func store<T: BitwiseCopyable>(_ value: T, at address: UInt64) throws(GuestMemoryError) {
    try check(address, UInt64(MemoryLayout<T>.size))
    noteWrite(address, UInt64(MemoryLayout<T>.size))
    // SAFETY: the range was checked to lie inside the mapping.
    baseAddress.storeBytes(of: value, toByteOffset: Int(address), as: T.self)
  }

  /// Copies `bytes` into guest memory at `address`.
  public func write(_ bytes: some Collection<UInt8>, at address: UInt64) throws(GuestMemoryError) {
    try check(address, UInt64(bytes.count))
    noteWrite(address, UInt64(bytes.count))
    // SAFETY: the destination range was checked; the buffer covers exactly bytes.count bytes.
    let destination = UnsafeMutableRawBufferPointer(start: baseAddress + Int(address), count: bytes.count)
    destination.copyBytes(from: bytes)
  }

  /// Returns a copy of `count` bytes at `address`.
  public func bytes(at address: UInt64, count: UInt64) throws(GuestMemoryError) -> [UInt8] {
    try check(address, count)
    // SAFETY: the source range was checked to lie inside the mapping.
    return Array(UnsafeRawBufferPointer(start: baseAddress + Int(address), count: Int(count)))
  }

  /// Fills `count` bytes at `address` with zero.
  public func zero(at address: UInt64, count: UInt64) throws(GuestMemoryError) {
    try check(address, count)
    noteWrite(address, count)
    // SAFETY: the range was checked to lie inside the mapping.
    memset(baseAddress + Int(address), 0, Int(count))
  }

  /// Calls `body` with a writable view of `count` bytes at `address`; the view must not escape.
  public func withMutableBytes<R>(
    at address: UInt64, count: UInt64, _ body: (UnsafeMutableRawBufferPointer) throws -> R
  ) throws -> R {
    try check(address, count)
    noteWrite(address, count)
    // SAFETY: the range was checked; the buffer is valid for the duration of `body` only.
    return try body(UnsafeMutableRawBufferPointer(start: baseAddress + Int(address), count: Int(count)))
  }

  /// Calls `body` with a read-only view of `count` bytes at `address`; the view must not escape.
  public func withBytes<R>(
    at address: UInt64, count: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R
  ) throws -> R {
    try check(address, count)
    // SAFETY: the range was checked; the buffer is valid for the duration of `body` only.
    return try body(UnsafeRawBufferPointer(start: baseAddress + Int(address), count: Int(count)))
  }

  /// Calls `body` with a writable view of all of guest memory without recording host writes (for restoring
  /// a saved image, whose pages count as clean); the view must not escape. A revoked view is empty.
  public func withRestoringBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
    // SAFETY: the view covers exactly the mapping (nothing once revoked) and lives only during `body`.
    try body(UnsafeMutableRawBufferPointer(start: isRevoked ? nil : baseAddress, count: isRevoked ? 0 : Int(size)))
  }

  /// Calls `body` with a read-only view of all of guest memory; the view must not escape. A revoked view is
  /// empty.
  public func withAllBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    // SAFETY: the view covers exactly the mapping (nothing once revoked) and lives only during `body`.
    try body(UnsafeRawBufferPointer(start: isRevoked ? nil : baseAddress, count: isRevoked ? 0 : Int(size)))
  }
}
