// DirectIOBaseline.swift: the disk's own sequential bandwidth, as `dd` with O_DIRECT measures it: its write (with
// conv=fsync, so the data is durable, as a swap-out's) and its read, each timed by dd itself.
import ArgumentParser
import Foundation

/// `dd` writing and reading one file of `megabytes` MiB in 1 MiB direct requests; each figure is dd's own (the
/// bytes over the seconds dd reports for its copy, its fsync included), so starting the process is not counted.
struct DirectIOBaseline {
  /// The file dd writes and reads.
  let path: String
  /// MiB per pass.
  let megabytes: Int

  /// dd's write bandwidth in MiB/s: `oflag=direct conv=fsync` (the file is rewritten from its start).
  func write() throws -> Double {
    try run(["if=/dev/zero", "of=\(path)", "bs=1M", "count=\(megabytes)", "oflag=direct", "conv=fsync"])
  }

  /// dd's read bandwidth in MiB/s: `iflag=direct` over the file `write` made (the page cache plays no part).
  func read() throws -> Double {
    try run(["if=\(path)", "of=/dev/null", "bs=1M", "count=\(megabytes)", "iflag=direct"])
  }

  /// Deletes dd's file.
  func remove() { unlink(path) }

  /// Runs dd and returns MiB/s from the time it reports ("... copied, S s, ..."); throws if it fails or says
  /// nothing parseable.
  private func run(_ arguments: [String]) throws -> Double {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/dd")
    process.arguments = arguments
    process.environment = ["LC_ALL": "C", "PATH": "/usr/bin:/bin"]
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    let command = "dd \(arguments.joined(separator: " "))"
    try process.run()
    // dd's report is three short lines: reading it to the end also waits for dd to close its side.
    let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    try waitForExit(process, limit: .seconds(1800), what: command)
    guard process.terminationStatus == 0 else {
      throw ValidationError("\(command) failed with status \(process.terminationStatus): \(output)")
    }
    guard let seconds = Self.reportedSeconds(output), seconds > 0 else {
      throw ValidationError("\(command): no time in its report: \(output)")
    }
    return Double(megabytes) / seconds
  }

  /// The seconds in dd's summary line (`N bytes (...) copied, 0.0612 s, 1.1 GB/s`), or nil.
  static func reportedSeconds(_ report: String) -> Double? {
    for line in report.split(separator: "\n") where line.contains(" copied, ") {
      for part in line.split(separator: ",") {
        let words = part.split(separator: " ")
        if words.count == 2, words[1] == "s", let seconds = Double(words[0]) { return seconds }
      }
    }
    return nil
  }
}
