// BenchmarkReport.swift: what every benchmark shares: rounds alternating denalid with its baseline, each measure's
// two sides and their ratio, and the report `--json` prints (one JSON object, snake_case keys, no hand-built JSON).
import ArgumentParser
import Foundation

/// A `denali-bench` subcommand: it prints its figures as a table, or with `--json` as a `BenchmarkReport`.
protocol Benchmark: ParsableCommand {
  /// The output options (`--json`).
  var output: ReportOptions { get }
}

/// The output options every benchmark takes.
struct ReportOptions: ParsableArguments {
  @Flag(help: "Print the figures as one JSON object instead of the table (fields in Docs/BENCHMARKS.md).")
  var json = false
}

extension Benchmark {
  /// Prints `figures` as this benchmark's JSON report with `--json`; otherwise runs `table`, which prints them
  /// for people.
  func report<Figures: Encodable>(_ figures: Figures, table: () -> Void) throws {
    guard output.json else { return table() }
    print(try BenchmarkReport(benchmark: Self.configuration.commandName ?? "\(Self.self)", figures: figures).json())
  }
}

/// One run's figures as `--json` prints them: `benchmark` (the subcommand's name) beside the fields of `figures`,
/// in one object.
struct BenchmarkReport<Figures: Encodable>: Encodable {
  /// The subcommand that measured.
  let benchmark: String
  /// What it measured; its fields sit beside `benchmark`.
  let figures: Figures

  private enum Key: String, CodingKey {
    case benchmark
  }

  /// Encodes `benchmark` and the fields of `figures` into the same object.
  func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: Key.self)
    try container.encode(benchmark, forKey: .benchmark)
    try figures.encode(to: encoder)
  }

  /// The report as one line of JSON, keys in snake_case (`medianNs` is `median_ns`) and sorted.
  func json() throws -> String {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(self), as: UTF8.self)
  }
}

/// One measure on both sides: denalid's figure, the baseline's, and denalid's over the baseline's (nil when the
/// baseline's is zero). For times, a ratio above 1 means denalid is slower; for rates, faster.
struct Comparison<Value: Encodable & Sendable>: Encodable, Sendable {
  /// denalid's figure.
  let denalid: Value
  /// The baseline's figure, measured in the same run.
  let baseline: Value
  /// `denalid / baseline`.
  let ratio: Double?
}

extension Comparison where Value == UInt64 {
  /// Two integer figures (nanoseconds, counts) and their ratio.
  init(_ denalid: UInt64, _ baseline: UInt64) {
    self.init(denalid: denalid, baseline: baseline, ratio: baseline > 0 ? Double(denalid) / Double(baseline) : nil)
  }

  /// The nearest-rank percentile `p` (0-100; 50 is the median) of each side's samples.
  init(percentile p: Double, of denalid: [UInt64], _ baseline: [UInt64]) {
    self.init(SampleSummary(denalid).percentile(p), SampleSummary(baseline).percentile(p))
  }
}

extension Comparison where Value == Double {
  /// Two figures (rates, seconds) and their ratio.
  init(_ denalid: Double, _ baseline: Double) {
    self.init(denalid: denalid, baseline: baseline, ratio: baseline > 0 ? denalid / baseline : nil)
  }
}

/// Measures in `rounds` rounds, each running denalid's side and then the baseline's (each given the round's index),
/// so that drift in the machine's load hits both alike; returns each side's results in round order.
func alternatingRounds<Ours, Theirs>(
  _ rounds: Int, denalid: (Int) throws -> Ours, baseline: (Int) throws -> Theirs
) rethrows -> (denalid: [Ours], baseline: [Theirs]) {
  var ours: [Ours] = []
  var theirs: [Theirs] = []
  for round in 0..<rounds {
    ours.append(try denalid(round))
    theirs.append(try baseline(round))
  }
  return (ours, theirs)
}
