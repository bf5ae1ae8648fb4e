// Console.swift: text output to the host's console (buffered; a trailing newline sends the line).

/// The guest console.
public enum Console {
  /// Writes a static string.
  public static func print(_ text: StaticString) {
    // SAFETY: a StaticString's storage is utf8CodeUnitCount bytes of constant image memory.
    ilwaco_console_write(text.utf8Start, text.utf8CodeUnitCount)
  }

  /// Writes a string.
  public static func print(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
      // SAFETY: bytes is valid for the duration of this closure.
      ilwaco_console_write(bytes.baseAddress, bytes.count)
    }
  }

  /// Writes an integer in decimal, with a leading `-` if negative.
  public static func print<T: BinaryInteger>(_ value: T) {
    if value < 0 { print("-" as StaticString) }
    printDigits(UInt64(value.magnitude), radix: 10)
  }

  /// Writes an integer's bit pattern in hexadecimal with a `0x` prefix (negative values as two's complement of its width).
  public static func printHex<T: BinaryInteger>(_ value: T) {
    let width = value.bitWidth
    let mask: UInt64 = width >= 64 ? ~0 : (1 << UInt64(width)) - 1
    print("0x" as StaticString)
    printDigits(UInt64(truncatingIfNeeded: value) & mask, radix: 16)
  }

  /// Writes a string followed by a newline, which sends the line to the host.
  public static func printLine(_ text: String = "") {
    print(text)
    print("\n" as StaticString)
  }

  /// Sends any buffered output to the host now.
  public static func flush() {
    ilwaco_console_flush()
  }

  /// Writes `value` in `radix` (10 or 16) without a sign or prefix.
  private static func printDigits(_ value: UInt64, radix: UInt64) {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
      var remaining = value
      var start = digits.count
      repeat {
        let digit = UInt8(truncatingIfNeeded: remaining % radix)
        start -= 1
        digits[start] = digit < 10 ? 0x30 + digit : 0x57 + digit  // '0'... or 'a'...
        remaining /= radix
      } while remaining != 0
      // SAFETY: digits[start..<count] was written above and lives until the closure returns.
      ilwaco_console_write(UnsafeRawPointer(digits.baseAddress)?.advanced(by: start), digits.count - start)
    }
  }
}
