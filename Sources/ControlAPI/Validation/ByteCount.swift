// ByteCount.swift: sizes in requests and configuration, such as "4MiB" (binary units only).

/// Parses and prints byte sizes: digits with an optional unit B, K/KiB, M/MiB, G/GiB (all binary).
public enum ByteCount {
  /// The number of bytes in `text`; nil when malformed or too large for UInt64.
  public static func parse(_ text: String) -> UInt64? {
    let units: [(String, UInt64)] = [
      ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1),
    ]
    var digits = Substring(text)
    var multiplier: UInt64 = 1
    for (suffix, value) in units where digits.hasSuffix(suffix) {
      digits = digits.dropLast(suffix.count)
      multiplier = value
      break
    }
    guard !digits.isEmpty, digits.count <= 20, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
      let number = UInt64(digits)
    else { return nil }
    let (bytes, overflow) = number.multipliedReportingOverflow(by: multiplier)
    return overflow ? nil : bytes
  }

  /// `bytes` with the largest binary unit that divides it exactly (`4MiB`, `1536KiB`, `100B`).
  public static func format(_ bytes: UInt64) -> String {
    for (suffix, value) in [("GiB", UInt64(1) << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
    where bytes >= value && bytes % value == 0 {
      return "\(bytes / value)\(suffix)"
    }
    return "\(bytes)B"
  }

  /// `bytes` rounded for tables: `512B`, `4.0KiB`, `1.5MiB`, `2.0GiB`.
  public static func human(_ bytes: UInt64) -> String {
    let units = ["KiB", "MiB", "GiB", "TiB"]
    guard bytes >= 1024 else { return "\(bytes)B" }
    var value = Double(bytes) / 1024
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
      value /= 1024
      unit += 1
    }
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)\(units[unit])"
  }
}
