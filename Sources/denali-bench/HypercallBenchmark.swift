// HypercallBenchmark.swift: `denali-bench hypercall`: null-hypercall round trips per second beside the C baseline.
import ArgumentParser
import DenaliCore
import Foundation
import KVM

/// `denali-bench hypercall`: a guest makes N null hypercalls; both monitors time first exit to termination.
struct HypercallBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "hypercall",
    abstract: "Null-hypercall round trips per second, beside a minimal C KVM program handling the same exits."
  )

  @Option(help: "Null hypercalls per run.")
  var hypercalls: Int = 20000

  @Option(help: "Runs of each monitor, alternating.")
  var rounds: Int = 6

  @Option(help: "The null-hypercall guest (takes the count as its argument).")
  var image: String = "Guests/build/nop-loop.elf"

  @Option(help: "The C baseline program (default: kvm-baseline beside this executable).")
  var baseline: String?

  @OptionGroup
  var output: ReportOptions

  /// What `hypercall` reports: the median run's time per null hypercall round trip, and its rate.
  struct Figures: Encodable {
    /// Null hypercalls per run, and runs per side.
    let hypercalls: Int, rounds: Int
    /// Nanoseconds per round trip.
    let nsPerCall: Comparison<UInt64>
    /// Round trips per second.
    let callsPerSecond: Comparison<UInt64>
  }

  func validate() throws {
    guard hypercalls >= 100, rounds >= 1 else { throw ValidationError("--hypercalls must be at least 100") }
  }

  func run() throws {
    let memorySize = VMConfiguration.defaultMemorySize
    let guest = try GuestImage(contentsOf: image, memorySize: memorySize)
    let system = try KVMSystem()
    let program = BaselineProgram(path: baseline ?? BaselineProgram.defaultPath)
    let runs = try alternatingRounds(
      rounds, denalid: { _ in try Self.measureDenalid(system: system, image: guest, hypercalls: hypercalls) },
      baseline: { _ in try program.time(["hypercalls", image, "\(hypercalls)"], count: hypercalls, of: "hypercalls") })
    // Per-call cost of each run in nanoseconds; the median run is the figure.
    let perCall = Comparison(
      percentile: 50, of: runs.denalid.map { $0 / UInt64(hypercalls) }, runs.baseline.map { $0 / UInt64(hypercalls) })
    let rate = { (nanoseconds: UInt64) in nanoseconds > 0 ? 1_000_000_000 / nanoseconds : 0 }
    let figures = Figures(
      hypercalls: hypercalls, rounds: rounds, nsPerCall: perCall,
      callsPerSecond: Comparison(rate(perCall.denalid), rate(perCall.baseline)))
    try report(figures) {
      print("denali-bench hypercall: \(hypercalls) null hypercalls per run, \(rounds) alternating runs, median run")
      print("                       denalid        C baseline     ratio (time per call)")
      print(
        "round trips per second \(pad("\(figures.callsPerSecond.denalid)")) \(pad("\(figures.callsPerSecond.baseline)")) "
      )
      print(
        "time per round trip    \(pad(microseconds(perCall.denalid))) \(pad(microseconds(perCall.baseline))) \(ratio(perCall.denalid, perCall.baseline))"
      )
    }
  }

  /// Runs the guest once through denalid; returns nanoseconds from its first hypercall to its termination.
  static func measureDenalid(system: KVMSystem, image: GuestImage, hypercalls: Int) throws -> UInt64 {
    let vm = try GuestVM(system: system, image: image, configuration: VMConfiguration(arguments: ["\(hypercalls)"])) {
      _ in
    }
    let outcome = try vm.run()
    let end = ContinuousClock.now
    guard outcome == .exited(status: 0), let first = vm.statistics.firstHypercall,
      vm.statistics.hypercalls == UInt64(hypercalls) + 1
    else {
      throw ValidationError("the hypercall guest did not make \(hypercalls) hypercalls and exit 0: \(outcome)")
    }
    return nanoseconds(end - first)
  }

  private func pad(_ text: String) -> String { text.padding(toLength: 14, withPad: " ", startingAt: 0) }
}
