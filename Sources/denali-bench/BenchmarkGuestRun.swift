// BenchmarkGuestRun.swift: the network benchmarks' guest runs: `denalid run` (the denalid beside this program) started in the
// background, optionally under `perf stat -e kvm:kvm_emulate_insn`, waited for, and its instruction count read.
import Foundation

/// A guest run of `bench tcp` or `bench http`.
enum BenchmarkGuestRun {
  /// Starts denalid with `runArguments` (`run IMAGE ...`), under perf stat writing to `perfOutput` if given;
  /// its stdout is discarded.
  static func start(_ runArguments: [String], perfOutput: String? = nil) throws -> Process {
    let process = Process()
    var command = [BenchmarkDaemon.executable] + runArguments
    if let perfOutput {
      command = ["perf", "stat", "-x", ",", "-e", "kvm:kvm_emulate_insn", "-o", perfOutput, "--"] + command
    }
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = command
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    return process
  }

  /// Waits (at most `limit`) for a run to end; throws unless it exited 0.
  static func waitForSuccess(_ process: Process, limit: Duration, what: String) throws {
    try waitForExit(process, limit: limit, what: what)
    guard process.terminationStatus == 0 else {
      throw BenchmarkError("\(what) exited with \(process.terminationStatus)")
    }
  }

  /// The kvm:kvm_emulate_insn count perf wrote to `perfOutput` (one event per emulated guest instruction).
  static func emulatedInstructions(perfOutput: String) throws -> UInt64 {
    let text = (try? String(contentsOfFile: perfOutput, encoding: .utf8)) ?? ""
    guard let line = text.split(separator: "\n").first(where: { $0.contains("kvm:kvm_emulate_insn") }),
      let count = UInt64(line.split(separator: ",").first ?? "")
    else { throw BenchmarkError("no kvm:kvm_emulate_insn count from perf: \(text)") }
    return count
  }
}
