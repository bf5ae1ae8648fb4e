// BootBenchmark.swift: `denali-bench boot`: boot latency of denalid beside a minimal C KVM program, same run.
import ArgumentParser
import DenaliCommandLine
import DenaliCore
import Foundation
import KVM

/// `denali-bench boot`: time from creating the VM to the first hypercall and to termination.
struct BootBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "boot",
    abstract: "Boot latency: create the VM, load the guest, run to its first hypercall and to its termination."
  )

  @Option(help: "Boots measured for each of denalid and the baseline.")
  var iterations: Int = 200

  @Option(help: "Rounds the iterations are split into, alternating denalid and the baseline.")
  var rounds: Int = 10

  @Option(help: "Guest image to boot.")
  var image: String = "Guests/build/hello.elf"

  @OptionGroup
  var memory: GuestMemoryOptions

  @Option(help: "The C baseline program (default: kvm-baseline beside this executable).")
  var baseline: String?

  @OptionGroup
  var output: ReportOptions

  /// What `boot` reports: nanoseconds from creating the VM to its first hypercall and to its termination.
  struct Figures: Encodable {
    /// The guest image booted.
    let image: String
    /// Guest memory per boot.
    let memoryBytes: UInt64
    /// Boots per side, and the alternating rounds they were split into.
    let iterations: Int, rounds: Int
    /// To the first hypercall: median and 99th percentile of each side.
    let firstHypercallMedianNs: Comparison<UInt64>, firstHypercallP99Ns: Comparison<UInt64>
    /// To termination: median and 99th percentile of each side.
    let terminationMedianNs: Comparison<UInt64>, terminationP99Ns: Comparison<UInt64>
  }

  func validate() throws {
    guard iterations >= 10, rounds >= 1, iterations % rounds == 0 else {
      throw ValidationError("--iterations must be at least 10 and a multiple of --rounds")
    }
  }

  func run() throws {
    let memorySize = memory.bytes
    let guest = try GuestImage(contentsOf: image, memorySize: memorySize)
    let system = try KVMSystem()
    let baselinePath = baseline ?? BaselineProgram.defaultPath
    let perRound = iterations / rounds
    let samples = try alternatingRounds(
      rounds,
      denalid: { _ in
        try (0..<perRound).map { _ in try Self.bootOnce(system: system, image: guest, memorySize: memorySize) }
      },
      baseline: { _ in try Self.runBaseline(baselinePath, image: image, iterations: perRound, memorySize: memorySize) })
    let ours = samples.denalid.flatMap { $0 }
    let theirs = samples.baseline.flatMap { $0 }
    let first = (ours.map(\.first), theirs.map(\.first))
    let end = (ours.map(\.end), theirs.map(\.end))
    let figures = Figures(
      image: image, memoryBytes: memorySize, iterations: iterations, rounds: rounds,
      firstHypercallMedianNs: Comparison(percentile: 50, of: first.0, first.1),
      firstHypercallP99Ns: Comparison(percentile: 99, of: first.0, first.1),
      terminationMedianNs: Comparison(percentile: 50, of: end.0, end.1),
      terminationP99Ns: Comparison(percentile: 99, of: end.0, end.1))
    try report(figures) { printTable(figures) }
  }

  /// One boot through the whole denalid stack: returns nanoseconds to the first hypercall and to termination.
  static func bootOnce(system: KVMSystem, image: GuestImage, memorySize: UInt64) throws -> (first: UInt64, end: UInt64)
  {
    let start = ContinuousClock.now
    let vm = try GuestVM(system: system, image: image, configuration: VMConfiguration(memorySize: memorySize)) { _ in }
    let outcome = try vm.run()
    let end = ContinuousClock.now
    guard outcome == .exited(status: 0), let first = vm.statistics.firstHypercall else {
      throw ValidationError("the benchmark guest did not exit cleanly: \(outcome)")
    }
    return (nanoseconds(first - start), nanoseconds(end - start))
  }

  /// Runs the C baseline's `boot` command: nanoseconds to the first hypercall and to termination, per boot.
  static func runBaseline(_ path: String, image: String, iterations: Int, memorySize: UInt64) throws -> [(
    first: UInt64, end: UInt64
  )] {
    let lines = try BaselineProgram(path: path).run(
      ["boot", image, "--iterations", "\(iterations)", "--memory", "\(memorySize)"], fieldsPerLine: 2)
    guard lines.count == iterations else {
      throw ValidationError("the baseline printed \(lines.count) samples, expected \(iterations)")
    }
    return lines.map { ($0[0], $0[1]) }
  }

  private func printTable(_ figures: Figures) {
    print(
      "denali-bench boot: \(iterations) boots each of \(image) (\(ByteSize(bytes: figures.memoryBytes))), \(rounds) alternating rounds"
    )
    print("time from creating the VM to ...   denalid      C baseline   ratio")
    let rows = [
      ("first hypercall", figures.firstHypercallMedianNs, figures.firstHypercallP99Ns),
      ("termination", figures.terminationMedianNs, figures.terminationP99Ns),
    ]
    for (name, median, p99) in rows {
      for (label, figure) in [("median", median), ("p99", p99)] {
        let title = "\(name) (\(label))".padding(toLength: 34, withPad: " ", startingAt: 0)
        print(
          "\(title) \(microseconds(figure.denalid).padding(toLength: 12, withPad: " ", startingAt: 0)) \(microseconds(figure.baseline).padding(toLength: 12, withPad: " ", startingAt: 0)) \(ratio(figure.denalid, figure.baseline))"
        )
      }
    }
  }
}
