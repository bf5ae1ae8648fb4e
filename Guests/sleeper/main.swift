// sleeper [COUNT] [MS]: sleeps COUNT times (default 1000) for MS milliseconds (default 1) with idle, measures
// each wake-up's lateness on the virtual monotonic clock, and prints the median, p99 and maximum in µs.
import Ilwaco

@main
struct Sleeper: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let count = arguments.unsignedInteger(at: 0, default: 1000), count > 0, count <= 1_000_000,
      let milliseconds = arguments.unsignedInteger(at: 1, default: 1), milliseconds <= 1_000_000
    else {
      Console.print("usage: sleeper [COUNT] [MS] (COUNT 1-1000000, default 1000; MS 0-1000000, default 1)\n")
      return 2
    }
    let samples = UnsafeMutablePointer<UInt64>.allocate(capacity: Int(count))
    let period = milliseconds * 1_000_000
    // Each deadline counts from the clock as of the previous wake-up (refreshed by that idle's return).
    for index in 0..<Int(count) {
      let deadline = Clock.monotonicNanoseconds + period
      let woke = sleep(untilMonotonicNanoseconds: deadline)
      // SAFETY: index < count, the capacity allocated above.
      samples[index] = woke - deadline
    }
    // SAFETY: all count samples were written above.
    let sorted = UnsafeMutableBufferPointer(start: samples, count: Int(count))
    heapSort(sorted)
    Console.print("sleeper: ")
    Console.print(count)
    Console.print(" sleeps of ")
    Console.print(milliseconds)
    Console.print(" ms: lateness median ")
    Console.print(sorted[nearestRank(percent: 50, of: sorted.count)] / 1000)
    Console.print(" us, p99 ")
    Console.print(sorted[nearestRank(percent: 99, of: sorted.count)] / 1000)
    Console.print(" us, max ")
    Console.print(sorted[sorted.count - 1] / 1000)
    Console.print(" us\n")
    return 0
  }

  /// Index of the `percent`-th percentile in a sorted array of `count` values (nearest rank: ceil(p·n/100) − 1).
  static func nearestRank(percent: Int, of count: Int) -> Int {
    max((percent * count + 99) / 100 - 1, 0)
  }

  /// Sorts `values` ascending in place: heap sort, O(n log n) with no allocation.
  static func heapSort(_ values: UnsafeMutableBufferPointer<UInt64>) {
    var end = values.count
    var start = end / 2
    while start > 0 {
      start -= 1
      siftDown(values, start, end)
    }
    while end > 1 {
      end -= 1
      // SAFETY: 0 < end < values.count.
      values.swapAt(0, end)
      siftDown(values, 0, end)
    }
  }

  /// Restores the max-heap property of `values[root..<end]` below `root`.
  static func siftDown(_ values: UnsafeMutableBufferPointer<UInt64>, _ root: Int, _ end: Int) {
    var parent = root
    // SAFETY: every index used is below `end`, which is at most values.count.
    while true {
      var child = 2 * parent + 1
      if child >= end { return }
      if child + 1 < end && values[child + 1] > values[child] { child += 1 }
      if values[parent] >= values[child] { return }
      values.swapAt(parent, child)
      parent = child
    }
  }
}
