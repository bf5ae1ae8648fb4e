// Options.swift: `key=value` and flag guest arguments, so that guests started together can share one argument
// list. Matched against the arguments' bytes in place: a guest reading ten options pays no allocation for them.

extension Arguments {
  /// The value of the first argument of the form `key=value`, or nil when there is none.
  public func option(_ key: StaticString) -> String? {
    valueStart(key).map { String(cString: $0) }
  }

  /// The `key=N` option as an unsigned decimal number: `defaultValue` when absent, nil when malformed.
  public func unsignedOption(_ key: StaticString, default defaultValue: UInt64) -> UInt64? {
    guard let value = valueStart(key) else { return defaultValue }
    var length = 0
    // SAFETY: value points into a NUL-terminated argument; the walk stops at its NUL.
    while value[length] != 0 { length += 1 }
    return Arguments.parseUnsigned(UnsafeBufferPointer(start: value, count: length))
  }

  /// True when one argument is exactly `name` (a flag such as `quiet`).
  public func flag(_ name: StaticString) -> Bool {
    for index in 0..<count {
      guard let argument = cString(at: index) else { continue }
      let matched = matchedLength(argument, name)
      // SAFETY: matchedLength stopped at the first difference or at the key's end, both inside the argument.
      if matched == name.utf8CodeUnitCount && argument[matched] == 0 { return true }
    }
    return false
  }

  /// `text` as 1-20 decimal digits that fit in 64 bits, or nil.
  public static func parseUnsigned(_ text: String) -> UInt64? { parseUnsigned(text.utf8) }

  /// `digits` as 1-20 decimal digits that fit in 64 bits, or nil.
  public static func parseUnsigned<Digits: Sequence<UInt8>>(_ digits: Digits) -> UInt64? {
    var value: UInt64 = 0
    var count = 0
    for byte in digits {
      guard byte >= 0x30, byte <= 0x39 else { return nil }
      let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
      let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - 0x30))
      guard !overflow1, !overflow2 else { return nil }
      value = sum
      count += 1
    }
    return count > 0 ? value : nil
  }

  /// Where the value of the first `key=value` argument starts (inside that argument), or nil.
  private func valueStart(_ key: StaticString) -> UnsafePointer<UInt8>? {
    for index in 0..<count {
      guard let argument = cString(at: index) else { continue }
      let matched = matchedLength(argument, key)
      // SAFETY: matchedLength stopped inside the argument; '=' is not its NUL, so the value starts inside it.
      if matched == key.utf8CodeUnitCount && argument[matched] == 0x3D { return argument + matched + 1 }
    }
    return nil
  }

  /// How many leading bytes of the NUL-terminated `argument` equal those of `key` (the key holds no NUL, so the
  /// walk stops at the argument's end at the latest).
  private func matchedLength(_ argument: UnsafePointer<UInt8>, _ key: StaticString) -> Int {
    var offset = 0
    // SAFETY: offset < the key's length; argument[offset] is read only while every byte before it matched a
    // non-NUL key byte, so it lies at or before the argument's terminating NUL.
    while offset < key.utf8CodeUnitCount && argument[offset] == key.utf8Start[offset] { offset += 1 }
    return offset
  }
}
