// Arguments.swift: the guest's command-line arguments, read from the boot information.

/// The arguments the host passed to this guest (the first is `arguments[0]`; there is no program name).
public struct Arguments: RandomAccessCollection {
  /// The argument vector: `count` pointers to NUL-terminated strings, then a null pointer.
  private let vector: UnsafePointer<UInt64>?

  /// Number of arguments.
  public let count: Int

  /// The arguments of this guest, as the host wrote them at boot.
  public init() {
    // SAFETY: ilwaco_start stored a checked boot info pointer; the host writes argc pointers at argv.
    let info = ilwaco_boot_info().pointee
    vector = UnsafePointer(bitPattern: UInt(info.argv))
    count = vector == nil ? 0 : Int(info.argc)
  }

  /// Index of the first argument (always 0).
  public var startIndex: Int { 0 }

  /// One past the index of the last argument.
  public var endIndex: Int { count }

  /// The argument at `index` as a String (invalid UTF-8 is repaired).
  public subscript(index: Int) -> String {
    guard let string = cString(at: index) else { return "" }
    return String(cString: string)
  }

  /// The argument at `index` in place: its NUL-terminated bytes as the host wrote them (nil for a null entry).
  /// Reading options this way costs no allocation and no UTF-8 validation.
  public func cString(at index: Int) -> UnsafePointer<UInt8>? {
    precondition(index >= 0 && index < count, "argument index out of range")
    // SAFETY: index < count, and each of the first count entries points at a NUL-terminated string.
    guard let vector else { return nil }
    return UnsafePointer<UInt8>(bitPattern: UInt(vector[index]))
  }
}

extension Arguments {
  /// The argument at `index` parsed as an unsigned decimal number; `defaultValue` if there is no such
  /// argument, nil if it is not 1-20 decimal digits or does not fit in 64 bits.
  public func unsignedInteger(at index: Int, default defaultValue: UInt64) -> UInt64? {
    guard index < count else { return defaultValue }
    var value: UInt64 = 0
    var digits = 0
    for byte in self[index].utf8 {
      guard byte >= 0x30, byte <= 0x39 else { return nil }
      let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
      let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - 0x30))
      guard !overflow1, !overflow2 else { return nil }
      value = sum
      digits += 1
    }
    return digits > 0 ? value : nil
  }
}
