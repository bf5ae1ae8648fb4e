// TapEchoProgram.swift: the C network baseline, tap-echo, run for the length of a measurement.
import Foundation

/// `tap-echo DEVICE HOST/PREFIX ECHO-ADDRESS` (Benchmarks/tap-echo): a minimal C program answering ARP and echoing
/// UDP on a TAP device of its own, with no switch and no VM.
enum TapEchoProgram {
  /// Starts `program` on TAP device `device` (host side `hostAddress`, echoing as `echoAddress`), waits until it
  /// says ready, runs `body`, then stops it.
  static func whileRunning<T>(
    _ program: String, device: String, hostAddress: String, echoAddress: String, _ body: () throws -> T
  ) throws -> T {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = [device, hostAddress, echoAddress]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    defer {
      process.terminate()
      try? waitForExit(process, limit: .seconds(10), what: "tap-echo to stop")
    }
    let ready = try withDeadline(process, limit: .seconds(30), what: "tap-echo to say ready") {
      output.fileHandleForReading.availableData
    }
    guard String(decoding: ready, as: UTF8.self).hasPrefix("ready") else {
      throw BenchmarkError("\(program) did not start (is it built? swift build builds tap-echo)")
    }
    return try body()
  }
}
