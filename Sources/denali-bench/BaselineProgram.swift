// BaselineProgram.swift: runs the C baseline (kvm-baseline) and reads its lines of integer figures.
import ArgumentParser
import DenaliCommandLine
import Foundation

/// The minimal C KVM program every benchmark compares against.
struct BaselineProgram {
  /// Its path.
  let path: String

  /// `kvm-baseline` beside this executable (SwiftPM builds both into the same folder).
  static var defaultPath: String { siblingProgram("kvm-baseline") }

  /// Runs one of its timed loops (`hypercalls`, `switch`), which prints one line `COUNT NANOSECONDS`; returns the
  /// nanoseconds, throwing unless COUNT is `count` (of `what`, for the message).
  func time(_ arguments: [String], count: Int, of what: String) throws -> UInt64 {
    guard let line = try run(arguments, fieldsPerLine: 2).first, line[0] == UInt64(count) else {
      throw ValidationError("the baseline did not report \(count) \(what)")
    }
    return line[1]
  }

  /// Runs it with `arguments`; returns each stdout line with exactly `fieldsPerLine` integers.
  func run(_ arguments: [String], fieldsPerLine: Int) throws -> [[UInt64]] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = try withDeadline(process, limit: .seconds(1800), what: "the baseline \(path) \(arguments.first ?? "")") {
      let data = output.fileHandleForReading.readDataToEndOfFile()
      process.waitUntilExit()
      return data
    }
    guard process.terminationStatus == 0 else {
      throw ValidationError(
        "the baseline \(path) \(arguments.first ?? "") failed with status \(process.terminationStatus)")
    }
    return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
      let fields = line.split(separator: " ").compactMap { UInt64($0) }
      return fields.count == fieldsPerLine ? fields : nil
    }
  }
}
