// ByteCoding.swift: little-endian encoding and bounds-checked decoding of the swap file's records.

/// Appends little-endian integers and raw bytes to a byte array.
struct ByteWriter {
  /// The bytes written so far.
  private(set) var bytes: [UInt8] = []

  /// Appends `value` little-endian.
  mutating func append<T: FixedWidthInteger>(_ value: T) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
  }

  /// Appends raw bytes.
  mutating func append(bytes more: some Collection<UInt8>) { bytes.append(contentsOf: more) }

  /// Pads with zeros up to `count` bytes in all.
  mutating func pad(to count: Int) {
    if bytes.count < count { bytes.append(contentsOf: repeatElement(0, count: count - bytes.count)) }
  }
}

/// Reads little-endian integers from a byte array; every read is bounds-checked and returns nil past the end.
struct ByteReader {
  private let bytes: [UInt8]
  /// Offset of the next read.
  private(set) var offset = 0

  /// A reader at the start of `bytes`.
  init(_ bytes: [UInt8]) { self.bytes = bytes }

  /// Bytes not yet read.
  var remaining: Int { bytes.count - offset }

  /// Reads a little-endian integer, or nil when too few bytes remain.
  mutating func read<T: FixedWidthInteger>(_: T.Type) -> T? {
    let size = MemoryLayout<T>.size
    guard remaining >= size else { return nil }
    var value: T = 0
    for index in 0..<size { value |= T(bytes[offset + index]) << (8 * index) }
    offset += size
    return value
  }

  /// Reads `count` raw bytes, or nil when too few remain.
  mutating func read(count: Int) -> ArraySlice<UInt8>? {
    guard count >= 0, remaining >= count else { return nil }
    defer { offset += count }
    return bytes[offset..<(offset + count)]
  }
}
