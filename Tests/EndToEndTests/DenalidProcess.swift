// DenalidProcess.swift: runs the built denalid binary on the built guest images, as a user would.
import Foundation
import Synchronization
import Testing

/// The result of one `denalid` invocation.
struct DenalidResult {
  /// Exit status.
  let status: Int32
  /// Everything written to standard output.
  let stdout: String
  /// Everything written to standard error.
  let stderr: String
  /// Wall-clock time the process took.
  let elapsed: Duration
}

/// Locates denalid and the guest images, and runs denalid with a hard time limit.
enum Denalid {
  /// The package root (two levels above this file's folder).
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// The denalid executable: $DENALID, else .build/debug/denalid.
  static var executable: String {
    ProcessInfo.processInfo.environment["DENALID"] ?? root.appendingPathComponent(".build/debug/denalid").path
  }

  /// A guest image path: $DENALI_GUESTS_DIR/<name>.elf, else Guests/build/<name>.elf.
  static func guest(_ name: String) -> String {
    let directory =
      ProcessInfo.processInfo.environment["DENALI_GUESTS_DIR"]
      ?? root.appendingPathComponent("Guests/build").path
    return directory + "/\(name).elf"
  }

  /// The benchmark program, beside denalid (SwiftPM builds both into one folder).
  static var benchmarks: String {
    URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("denali-bench").path
  }

  /// True when tests that need KVM, denalid and the guests can run; records an issue in CI when they cannot.
  static func ready(guests: [String] = ["hello"]) -> Bool {
    let ci = ProcessInfo.processInfo.environment["CI"] == "true"
    if !FileManager.default.fileExists(atPath: "/dev/kvm") {
      if ci {
        Issue.record("/dev/kvm is missing, and CI requires it")
      } else {
        print("skipping: /dev/kvm is not available on this machine")
      }
      return false
    }
    for path in [executable] + guests.map(guest) where !FileManager.default.isExecutableFile(atPath: path) {
      Issue.record("\(path) is missing: build with `make build` (make test does it)")
      return false
    }
    return true
  }

  /// Runs denalid (or `program`) with `arguments` and `environment` added to ours; kills it and records an issue
  /// after `limit`.
  static func run(
    _ arguments: [String], program: String = executable, environment: [String: String] = [:],
    limit: Duration = .seconds(60)
  ) throws -> DenalidResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = FileHandle.nullDevice
    let start = ContinuousClock.now
    try process.run()
    let killer = DispatchWorkItem { [process] in
      if process.isRunning { process.terminate() }
    }
    DispatchQueue.global().asyncAfter(
      deadline: .now() + .milliseconds(Int(limit.components.seconds * 1000)), execute: killer)
    // Read both pipes concurrently so a chatty guest cannot fill one and deadlock.
    let errorData = Mutex(Data())
    let reader = Thread { errorData.withLock { $0 = errors.fileHandleForReading.readDataToEndOfFile() } }
    reader.start()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    killer.cancel()
    while reader.isExecuting || !reader.isFinished { Thread.sleep(forTimeInterval: 0.001) }
    let elapsed = ContinuousClock.now - start
    if process.terminationReason == .uncaughtSignal {
      Issue.record("\(program) \(arguments) was killed by signal \(process.terminationStatus) (time limit \(limit))")
    }
    return DenalidResult(
      status: process.terminationStatus,
      stdout: String(decoding: outputData, as: UTF8.self),
      stderr: errorData.withLock { String(decoding: $0, as: UTF8.self) },
      elapsed: elapsed)
  }
}
