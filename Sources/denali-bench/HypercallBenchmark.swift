// HypercallBenchmark.swift: `denali-bench hypercall`: null-hypercall round trips per second beside the C baseline.
import ArgumentParser
import DenaliCore
import Foundation
import KVM

/// `denali-bench hypercall`: a guest makes N null hypercalls; both monitors time first exit to termination.
struct HypercallBenchmark: ParsableCommand {
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

  @Flag(help: "Print the figures as JSON.")
  var json = false

  func validate() throws {
    guard hypercalls >= 100, rounds >= 1 else { throw ValidationError("--hypercalls must be at least 100") }
  }

  func run() throws {
    let memorySize = VMConfiguration.defaultMemorySize
    let guest = try GuestImage(contentsOf: image, memorySize: memorySize)
    let system = try KVMSystem()
    let program = BaselineProgram(path: baseline ?? BaselineProgram.defaultPath)
    var ours: [UInt64] = []
    var theirs: [UInt64] = []
    for _ in 0..<rounds {
      ours.append(try Self.measureDenalid(system: system, image: guest, hypercalls: hypercalls))
      let lines = try program.run(["hypercalls", image, "\(hypercalls)"], fieldsPerLine: 2)
      guard let line = lines.first, line[0] == UInt64(hypercalls) else {
        throw ValidationError("the baseline did not report \(hypercalls) hypercalls")
      }
      theirs.append(line[1])
    }
    // Per-call cost of each run in nanoseconds; the median run is the figure.
    let oursPerCall = SampleSummary(ours.map { $0 / UInt64(hypercalls) }).median
    let theirsPerCall = SampleSummary(theirs.map { $0 / UInt64(hypercalls) }).median
    let oursRate = oursPerCall > 0 ? 1_000_000_000 / oursPerCall : 0
    let theirsRate = theirsPerCall > 0 ? 1_000_000_000 / theirsPerCall : 0
    if json {
      print(
        "{\"benchmark\": \"hypercall\", \"hypercalls\": \(hypercalls), \"rounds\": \(rounds), "
          + "\"denalid_ns_per_call\": \(oursPerCall), \"baseline_ns_per_call\": \(theirsPerCall), "
          + "\"denalid_per_second\": \(oursRate), \"baseline_per_second\": \(theirsRate)}")
      return
    }
    print("denali-bench hypercall: \(hypercalls) null hypercalls per run, \(rounds) alternating runs, median run")
    print("                       denalid        C baseline     ratio (time per call)")
    print("round trips per second \(pad("\(oursRate)")) \(pad("\(theirsRate)")) ")
    print("time per round trip    \(pad(microseconds(oursPerCall))) \(pad(microseconds(theirsPerCall))) \(ratio(oursPerCall, theirsPerCall))")
  }

  /// Runs the guest once through denalid; returns nanoseconds from its first hypercall to its termination.
  static func measureDenalid(system: KVMSystem, image: GuestImage, hypercalls: Int) throws -> UInt64 {
    let vm = try GuestVM(system: system, image: image, configuration: VMConfiguration(arguments: ["\(hypercalls)"])) { _ in }
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
