// ZipfSampler.swift: draws ranks from a Zipf distribution (rank k with weight 1/k^s) with a seeded generator, so
// that a web benchmark's load is the same from run to run.

import Foundation

/// Ranks 0..<count drawn with probability proportional to 1/(rank+1)^exponent (rank 0 the most popular).
struct ZipfSampler: Sendable {
  /// The cumulative probabilities, one per rank; the last is 1.
  private let cumulative: [Double]

  /// A sampler over `count` ranks (at least 1) with `exponent` (0: uniform).
  init(count: Int, exponent: Double) {
    var running = 0.0
    var sums = [Double](repeating: 0, count: max(count, 1))
    for rank in sums.indices {
      running += 1 / pow(Double(rank + 1), exponent)
      sums[rank] = running
    }
    cumulative = sums.map { $0 / running }
  }

  /// The number of ranks.
  var count: Int { cumulative.count }

  /// The probability of `rank`.
  func probability(of rank: Int) -> Double {
    rank == 0 ? cumulative[0] : cumulative[rank] - cumulative[rank - 1]
  }

  /// The chance that a request finds its rank outside a least-recently-used cache of `slots` ranks (the budget's
  /// resident VMs, the gatekeeper evicting the VM idle the longest), by Che's approximation: rank i is resident
  /// with probability 1 - exp(-p_i T), where the characteristic time T makes the expected residents `slots`.
  func missProbability(slots: Int) -> Double {
    guard slots < count else { return 0 }
    let probabilities = (0..<count).map(probability(of:))
    func resident(_ time: Double) -> Double { probabilities.reduce(0) { $0 + (1 - exp(-$1 * time)) } }
    var low = 0.0
    var high = 1.0
    while resident(high) < Double(slots) { high *= 2 }
    for _ in 0..<100 {
      let middle = (low + high) / 2
      if resident(middle) < Double(slots) { low = middle } else { high = middle }
    }
    return probabilities.reduce(0) { $0 + $1 * exp(-$1 * high) }
  }

  /// One rank for the uniform draw `unit` in [0, 1): the first whose cumulative probability exceeds it.
  func rank(for unit: Double) -> Int {
    var low = 0
    var high = cumulative.count - 1
    while low < high {
      let middle = (low + high) / 2
      if cumulative[middle] > unit { high = middle } else { low = middle + 1 }
    }
    return low
  }
}
