// BootBenchmark.swift: `denali-bench boot`: boot latency of denalid beside a minimal C KVM program, same run.
import ArgumentParser
import DenaliCommandLine
import DenaliCore
import Foundation
import KVM

/// `denali-bench boot`: time from creating the VM to the first hypercall and to termination.
struct BootBenchmark: ParsableCommand {
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

  @Option(help: "Guest memory size.")
  var memory: ByteSizeArgument = ByteSizeArgument(ByteSize(bytes: VMConfiguration.defaultMemorySize))

  @Option(help: "The C baseline program (default: kvm-baseline beside this executable).")
  var baseline: String?

  @Flag(help: "Print the figures as JSON.")
  var json = false

  func validate() throws {
    guard iterations >= 10, rounds >= 1, iterations % rounds == 0 else {
      throw ValidationError("--iterations must be at least 10 and a multiple of --rounds")
    }
  }

  func run() throws {
    let memorySize = memory.size.bytes
    let guest = try GuestImage(contentsOf: image, memorySize: memorySize)
    let system = try KVMSystem()
    let baselinePath = baseline ?? BaselineProgram.defaultPath
    var ours: (first: [UInt64], end: [UInt64]) = ([], [])
    var theirs: (first: [UInt64], end: [UInt64]) = ([], [])
    let perRound = iterations / rounds
    for _ in 0..<rounds {
      for _ in 0..<perRound {
        let sample = try Self.bootOnce(system: system, image: guest, memorySize: memorySize)
        ours.first.append(sample.first)
        ours.end.append(sample.end)
      }
      let samples = try Self.runBaseline(baselinePath, image: image, iterations: perRound, memorySize: memorySize)
      theirs.first += samples.map(\.first)
      theirs.end += samples.map(\.end)
    }
    report(ours: ours, theirs: theirs, memorySize: memorySize)
  }

  /// One boot through the whole denalid stack: returns nanoseconds to the first hypercall and to termination.
  static func bootOnce(system: KVMSystem, image: GuestImage, memorySize: UInt64) throws -> (first: UInt64, end: UInt64) {
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
  static func runBaseline(_ path: String, image: String, iterations: Int, memorySize: UInt64) throws -> [(first: UInt64, end: UInt64)] {
    let lines = try BaselineProgram(path: path).run(
      ["boot", image, "--iterations", "\(iterations)", "--memory", "\(memorySize)"], fieldsPerLine: 2)
    guard lines.count == iterations else {
      throw ValidationError("the baseline printed \(lines.count) samples, expected \(iterations)")
    }
    return lines.map { ($0[0], $0[1]) }
  }

  private func report(ours: (first: [UInt64], end: [UInt64]), theirs: (first: [UInt64], end: [UInt64]), memorySize: UInt64) {
    let rows: [(String, SampleSummary, SampleSummary)] = [
      ("first hypercall", SampleSummary(ours.first), SampleSummary(theirs.first)),
      ("termination", SampleSummary(ours.end), SampleSummary(theirs.end)),
    ]
    if json {
      let entries = rows.map { name, a, b in
        "\"\(name)\": {\"denalid_median_ns\": \(a.median), \"denalid_p99_ns\": \(a.p99), "
          + "\"baseline_median_ns\": \(b.median), \"baseline_p99_ns\": \(b.p99)}"
      }
      print("{\"benchmark\": \"boot\", \"image\": \"\(image)\", \"iterations\": \(iterations), " + entries.joined(separator: ", ") + "}")
      return
    }
    print("denali-bench boot: \(iterations) boots each of \(image) (\(ByteSize(bytes: memorySize))), \(rounds) alternating rounds")
    print("time from creating the VM to ...   denalid      C baseline   ratio")
    for (name, a, b) in rows {
      for (label, x, y) in [("median", a.median, b.median), ("p99", a.p99, b.p99)] {
        let title = "\(name) (\(label))".padding(toLength: 34, withPad: " ", startingAt: 0)
        print("\(title) \(microseconds(x).padding(toLength: 12, withPad: " ", startingAt: 0)) \(microseconds(y).padding(toLength: 12, withPad: " ", startingAt: 0)) \(ratio(x, y))")
      }
    }
  }
}
