// Options.swift: `key=value` guest arguments, so that guests started together can share one argument list.

extension Arguments {
  /// The value of the first argument of the form `key=value`, or nil when there is none.
  public func option(_ key: StaticString) -> String? {
    let keyLength = key.utf8CodeUnitCount
    for index in 0..<count {
      let argument = self[index]
      let bytes = argument.utf8
      guard bytes.count > keyLength else { continue }
      var matches = true
      var position = bytes.startIndex
      for offset in 0..<keyLength {
        // SAFETY: offset < utf8CodeUnitCount, the length of the static string's storage.
        if bytes[position] != key.utf8Start[offset] {
          matches = false
          break
        }
        position = bytes.index(after: position)
      }
      guard matches, bytes[position] == 0x3D else { continue }  // '='
      return String(argument[argument.utf8.index(after: position)...])
    }
    return nil
  }

  /// The `key=N` option as an unsigned decimal number: `defaultValue` when absent, nil when malformed.
  public func unsignedOption(_ key: StaticString, default defaultValue: UInt64) -> UInt64? {
    guard let text = option(key) else { return defaultValue }
    return Arguments.parseUnsigned(text)
  }

  /// `text` as 1-20 decimal digits that fit in 64 bits, or nil.
  public static func parseUnsigned(_ text: String) -> UInt64? {
    var value: UInt64 = 0
    var digits = 0
    for byte in text.utf8 {
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
