// IdleBenchmark.swift: `denali-bench idle`: a guest's wake-up lateness from idle, beside the host's own sleep.
import ArgumentParser
import DenaliCore
import Foundation
import KVM

/// `denali-bench idle`: the `sleeper` guest idles N times for M ms and reports lateness on its own virtual
/// clock; the baseline is a host thread doing the same sleeps with clock_nanosleep in the same run.
struct IdleBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "idle",
    abstract: "Idle-with-timeout wake-up lateness, beside a host thread's clock_nanosleep lateness."
  )

  @Option(help: "Sleeps per side.")
  var count: Int = 1000

  @Option(help: "Milliseconds per sleep.")
  var milliseconds: Int = 1

  @Option(help: "The sleeper guest.")
  var image: String = "Guests/build/sleeper.elf"

  @OptionGroup
  var output: ReportOptions

  /// What `idle` reports: how late wake-ups came past their deadlines, the guest's beside a host thread's.
  struct Figures: Encodable {
    /// Sleeps per side, and milliseconds per sleep.
    let count: Int, milliseconds: Int
    /// Lateness, median and 99th percentile (the guest's on its own clock, whole microseconds).
    let latenessMedianNs: Comparison<UInt64>, latenessP99Ns: Comparison<UInt64>
  }

  func validate() throws {
    guard count >= 10, milliseconds >= 1 else { throw ValidationError("--count >= 10 and --milliseconds >= 1") }
  }

  func run() throws {
    let guest = try GuestImage(contentsOf: image, memorySize: VMConfiguration.defaultMemorySize)
    var output = [UInt8]()
    let vm = try GuestVM(
      system: try KVMSystem(), image: guest,
      configuration: VMConfiguration(arguments: ["\(count)", "\(milliseconds)"])
    ) { output.append(contentsOf: $0) }
    let outcome = try vm.run()
    let line = String(decoding: output, as: UTF8.self)
    guard outcome == .exited(status: 0), let guestMedian = Self.number(after: "median", in: line),
      let guestP99 = Self.number(after: "p99", in: line)
    else { throw ValidationError("the sleeper guest failed (\(outcome)): \(line)") }
    let host = SampleSummary(Self.hostSleepLateness(count: count, milliseconds: milliseconds))
    let figures = Figures(
      count: count, milliseconds: milliseconds, latenessMedianNs: Comparison(guestMedian * 1000, host.median),
      latenessP99Ns: Comparison(guestP99 * 1000, host.p99))
    try report(figures) {
      print("denali-bench idle: \(count) sleeps of \(milliseconds) ms; lateness past each deadline")
      print("                 guest (own virtual clock)   host thread (clock_nanosleep)   ratio")
      for (label, figure) in [("median", figures.latenessMedianNs), ("p99", figures.latenessP99Ns)] {
        let guest = "\(figure.denalid / 1000) µs"
        print(
          "\(label.padding(toLength: 16, withPad: " ", startingAt: 0)) \(pad(guest)) \(pad(microseconds(figure.baseline))) \(ratio(figure.denalid, figure.baseline))"
        )
      }
    }
  }

  /// Nanoseconds each of `count` relative sleeps of `milliseconds` overshot, on CLOCK_MONOTONIC.
  static func hostSleepLateness(count: Int, milliseconds: Int) -> [UInt64] {
    (0..<count).map { _ in
      var start = timespec()
      clock_gettime(CLOCK_MONOTONIC, &start)
      var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
      var remaining = timespec()
      while clock_nanosleep(CLOCK_MONOTONIC, 0, &request, &remaining) == EINTR { request = remaining }
      var end = timespec()
      clock_gettime(CLOCK_MONOTONIC, &end)
      let elapsed = (end.tv_sec - start.tv_sec) * 1_000_000_000 + (end.tv_nsec - start.tv_nsec)
      return UInt64(max(0, elapsed - milliseconds * 1_000_000))
    }
  }

  /// The integer after `key ` in `text`.
  static func number(after key: String, in text: String) -> UInt64? {
    let words = text.split(separator: " ")
    guard let index = words.firstIndex(of: Substring(key)), index + 1 < words.count else { return nil }
    return UInt64(words[index + 1])
  }

  private func pad(_ text: String) -> String { text.padding(toLength: 27, withPad: " ", startingAt: 0) }
}
