// VMName.swift: the rules for VM names (so a name can never be mistaken for an id or escape a path).

/// VM names: 1 to 63 characters, a letter first, then letters, digits, `.`, `_` or `-`.
public enum VMName {
  /// The longest name.
  public static let maximumLength = 63

  /// True when `name` follows the rules.
  public static func isValid(_ name: String) -> Bool {
    let bytes = Array(name.utf8)
    guard let first = bytes.first, bytes.count <= maximumLength, isLetter(first) else { return false }
    return bytes.allSatisfy { isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
  }

  private static func isLetter(_ byte: UInt8) -> Bool {
    (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
  }
}
