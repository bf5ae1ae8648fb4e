// UnitParsingTests.swift: byte sizes ("2MiB") and durations ("500ms") given by operators.
import ControlAPI
import DenaliCore
import Testing

@Suite struct ByteSizeTests {
  static let valid: [(String, UInt64)] = [
    ("0", 0), ("4096", 4096), ("512KiB", 512 << 10), ("2MiB", 2 << 20), ("1GiB", 1 << 30), ("2M", 2 << 20),
    ("1G", 1 << 30), ("8K", 8 << 10), ("100B", 100), ("64MiB", 64 << 20), ("007MiB", 7 << 20),
    ("16383GiB", 16383 << 30), ("17179869183GiB", 17_179_869_183 << 30),
    ("18446744073709551615", UInt64.max), ("18446744073709551615B", UInt64.max),
  ]

  @Test(arguments: valid)
  func parses(text: String, bytes: UInt64) {
    #expect(ByteSize(parsing: text) == ByteSize(bytes: bytes))
  }

  @Test(arguments: [
    "", "MiB", "B", "G", "-1", "-1MiB", "1.5MiB", "12XB", "1 MiB", " 1", "1MiB ", "2mib", "2Mi", "2MB", "1TiB",
    "0x10", "99999999999GiB", "17179869184GiB", "18446744073709551616", "16777216TiB", "１２",
  ])
  func refuses(text: String) {
    #expect(ByteSize(parsing: text) == nil, "\(text)")
  }

  static let descriptions: [(UInt64, String)] = [
    (0, "0B"), (1, "1B"), (1023, "1023B"), (1024, "1KiB"), (1536, "1536B"), (4096, "4KiB"), (512 << 10, "512KiB"),
    (2 << 20, "2MiB"), (3 << 19, "1536KiB"), (1 << 30, "1GiB"), (3 << 30, "3GiB"),
    (UInt64.max, "18446744073709551615B"),
  ]

  @Test(arguments: descriptions)
  func descriptionUsesLargestExactUnit(bytes: UInt64, text: String) {
    #expect(ByteSize(bytes: bytes).description == text)
  }

  @Test(arguments: [UInt64(0), 1, 1000, 1024, 1536, 4096, 2 << 20, 3 << 19, 1 << 30, 5 << 30, UInt64.max, 1 << 63])
  func descriptionRoundTrips(bytes: UInt64) {
    let size = ByteSize(bytes: bytes)
    #expect(ByteSize(parsing: size.description) == size)
  }
}

@Suite struct DurationParserTests {
  static let valid: [(String, Duration)] = [
    ("10s", .seconds(10)), ("500ms", .milliseconds(500)), ("250us", .microseconds(250)), ("2m", .seconds(120)),
    ("1h", .seconds(3600)), ("1.5s", .milliseconds(1500)), ("3", .seconds(3)), ("0", .zero), ("0s", .zero),
    ("100ns", .nanoseconds(100)), ("0.5m", .seconds(30)), ("1.25h", .seconds(4500)), (".5s", .milliseconds(500)),
    ("2.5ms", .microseconds(2500)),
  ]

  @Test(arguments: valid)
  func parses(text: String, duration: Duration) {
    #expect(DurationParser.parse(text) == duration, "\(text)")
  }

  @Test(arguments: [
    "", "s", "ms", "h", "-1s", "-1", "abc", "1e400", "1e3s", ".", "..", "1..5s", "+1s", "1 s", " 1s", "1sec", "1d",
    "nan", "inf", "1000000000s", "300000h", "1x",
  ])
  func refuses(text: String) {
    #expect(DurationParser.parse(text) == nil, "\(text)")
  }

  @Test func justBelowTheAbsurdLimitIsAccepted() {
    #expect(DurationParser.parse("999999999s") == .seconds(999_999_999))
  }
}

@Suite struct ByteSizeSignTests {
  /// The size is "a whole number with an optional binary unit": no sign. `UInt64(_:)` accepts a leading
  /// '+' and "-0", so the digit check must refuse them explicitly, as DurationParser does.
  @Test(arguments: ["+1", "+2MiB", "-0", "-0MiB", "+0B"])
  func refusesSigns(text: String) {
    #expect(ByteSize(parsing: text) == nil, "\(text)")
  }
}

/// The byte-size parsers of the core (`ByteSize`, for `run`'s options) and of the control API (`ByteCount`, which
/// may not import the core) read and write every size alike: one table pins both.
@Suite struct ByteSizeParsersAgreeTests {
  static let table: [(text: String, bytes: UInt64?)] = [
    ("0", 0), ("1", 1), ("512B", 512), ("4K", 4096), ("4KiB", 4096), ("2M", 2 << 20), ("2MiB", 2 << 20),
    ("1G", 1 << 30), ("16GiB", 16 << 30), ("18446744073709551615", .max), ("18446744073709551616", nil),
    ("17179869184GiB", nil), ("", nil), ("MiB", nil), ("-1", nil), ("+1", nil), ("1.5MiB", nil), (" 1MiB", nil),
    ("1 MiB", nil), ("1mib", nil), ("1TiB", nil), ("0x10", nil), ("١٢", nil), ("00000000000000000000001", nil),
  ]

  @Test("ByteSize and ByteCount parse the same table the same way", arguments: table)
  func parsersAgree(text: String, bytes: UInt64?) {
    #expect(ByteSize(parsing: text)?.bytes == bytes, "ByteSize(\(text))")
    #expect(ByteCount.parse(text) == bytes, "ByteCount.parse(\(text))")
  }

  @Test(
    "ByteSize and ByteCount write sizes the same way",
    arguments: [0, 1, 512, 4096, 1536 << 10, 2 << 20, 3 << 30, UInt64.max])
  func formatsAgree(bytes: UInt64) {
    #expect(ByteSize(bytes: bytes).description == ByteCount.format(bytes))
    #expect(ByteCount.parse(ByteCount.format(bytes)) == bytes)
  }
}
