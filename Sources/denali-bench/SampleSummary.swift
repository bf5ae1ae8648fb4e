// SampleSummary.swift: median and tail percentiles of a set of timing samples, and the number formats benchmarks share.
import DenaliCore
import Foundation

/// Order statistics of timing samples in nanoseconds.
struct SampleSummary {
  /// The samples, sorted ascending.
  let sorted: [UInt64]

  /// Summarises `samples` (which must not be empty to be meaningful).
  init(_ samples: [UInt64]) { sorted = samples.sorted() }

  /// The nearest-rank percentile `p` (0-100); 0 for no samples.
  func percentile(_ p: Double) -> UInt64 {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
  }

  /// The median.
  var median: UInt64 { percentile(50) }
  /// The 99th percentile.
  var p99: UInt64 { percentile(99) }
}

/// Formats nanoseconds as microseconds with one decimal.
func microseconds(_ nanoseconds: UInt64) -> String {
  let tenths = (nanoseconds + 50) / 100
  return "\(tenths / 10).\(tenths % 10) µs"
}

/// Formats a ratio with two decimals and an `x`.
func ratio(_ numerator: UInt64, _ denominator: UInt64) -> String {
  guard denominator > 0 else { return "n/a" }
  let hundredths = (numerator * 100 + denominator / 2) / denominator
  let fraction = hundredths % 100
  return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)x"
}

/// `value` with `places` decimals (two by default).
func decimal(_ value: Double, places: Int = 2) -> String { String(format: "%.\(places)f", value) }

extension Duration {
  /// This duration in seconds.
  var inSeconds: Double { Double(DenaliCore.nanoseconds(self)) / 1e9 }
}
