// UnitParsing.swift: parses byte sizes ("2MiB") and durations ("500ms") given by operators.

/// A number of bytes parsed from text such as `4096`, `512KiB`, `2MiB`, `1GiB` (also `K`, `M`, `G`, binary).
public struct ByteSize: Equatable, Sendable, CustomStringConvertible {
  /// The size in bytes.
  public let bytes: UInt64

  /// A size of `bytes` bytes.
  public init(bytes: UInt64) { self.bytes = bytes }

  /// Parses `text`; nil when it is not a whole number with an optional binary unit, or overflows.
  public init?(parsing text: String) {
    let units: [(String, UInt64)] = [
      ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10),
      ("B", 1),
    ]
    var digits = Substring(text)
    var multiplier: UInt64 = 1
    for (suffix, value) in units where digits.hasSuffix(suffix) {
      digits = digits.dropLast(suffix.count)
      multiplier = value
      break
    }
    // As ControlAPI's ByteCount.parse (a shared test table holds them equal): at most 20 ASCII digits.
    guard !digits.isEmpty, digits.utf8.count <= 20, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
      let number = UInt64(digits)
    else { return nil }
    let (bytes, overflow) = number.multipliedReportingOverflow(by: multiplier)
    guard !overflow else { return nil }
    self.bytes = bytes
  }

  /// The size with the largest binary unit that divides it exactly.
  public var description: String {
    for (suffix, value) in [("GiB", UInt64(1) << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
    where bytes >= value && bytes % value == 0 {
      return "\(bytes / value)\(suffix)"
    }
    return "\(bytes)B"
  }
}

/// Parses durations such as `10s`, `500ms`, `250us`, `2m`, `1h`; a bare number means seconds.
public enum DurationParser {
  /// Parses `text`; nil when it is not a non-negative decimal number with an optional unit, or is absurd.
  public static func parse(_ text: String) -> Duration? {
    let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9), ("h", 3600), ("m", 60), ("s", 1)]
    var number = Substring(text)
    var scale = 1.0
    for (suffix, value) in units where number.hasSuffix(suffix) {
      number = number.dropLast(suffix.count)
      scale = value
      break
    }
    guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
      let value = Double(number), value.isFinite
    else { return nil }
    let seconds = value * scale
    guard seconds >= 0, seconds < 1e9 else { return nil }
    return .nanoseconds(Int64((seconds * 1e9).rounded()))
  }
}
