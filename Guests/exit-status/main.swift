// exit-status: exits with the status given as its first argument (decimal 0-255); otherwise prints an error and exits 2.
import Ilwaco

@main
struct ExitStatus: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let first = arguments.first, let status = parseStatus(first) else {
      Console.print("usage: exit-status STATUS (decimal 0-255)\n")
      return 2
    }
    return status
  }

  /// Parses 1-3 decimal digits with a value of at most 255.
  static func parseStatus(_ text: String) -> Int32? {
    var value: Int32 = 0
    var digits = 0
    for byte in text.utf8 {
      guard byte >= 0x30, byte <= 0x39, digits < 3 else { return nil }
      value = value * 10 + Int32(byte - 0x30)
      digits += 1
    }
    return digits > 0 && value <= 255 ? value : nil
  }
}
