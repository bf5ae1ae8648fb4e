// ArgumentTypes.swift: the size and duration values of command-line options, parsed by DenaliCore's parsers.
import ArgumentParser
import DenaliCore

/// A byte-size option value (`--memory 4MiB`, `--memory-budget 16GiB`).
public struct ByteSizeArgument: ExpressibleByArgument, Sendable {
  /// The parsed size.
  public let size: ByteSize

  /// `size` as an option value.
  public init(_ size: ByteSize) { self.size = size }

  /// Parses an option's text; nil when it is not a valid value.
  public init?(argument: String) {
    guard let size = ByteSize(parsing: argument) else { return nil }
    self.size = size
  }

  /// How the default appears in help.
  public var defaultValueDescription: String { size.description }
}

/// A duration option value (`--timeout 5s`, `--quantum 10ms`).
public struct DurationArgument: ExpressibleByArgument, Sendable {
  /// The parsed duration.
  public let duration: Duration

  /// `duration` as an option value.
  public init(_ duration: Duration) { self.duration = duration }

  /// Parses an option's text; nil when it is not a valid value.
  public init?(argument: String) {
    guard let duration = DurationParser.parse(argument) else { return nil }
    self.duration = duration
  }

  /// How the default appears in help: in the largest whole unit (`10ms`, `2s`).
  public var defaultValueDescription: String {
    let nanoseconds = DenaliCore.nanoseconds(duration)
    for (unit, size) in [("s", UInt64(1_000_000_000)), ("ms", 1_000_000), ("us", 1_000)] where nanoseconds % size == 0 {
      return "\(nanoseconds / size)\(unit)"
    }
    return "\(nanoseconds)ns"
  }
}
