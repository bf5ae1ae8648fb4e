// ProcessRunner.swift: runs a command (denalid, setpriv, systemd-analyze) with a time limit and collects its output.
import Foundation
import Glibc
import Testing

/// What a finished process left behind.
struct ProcessResult {
  let status: Int32
  let stdout: String
  let stderr: String
}

/// Runs programs for the tests.
enum ProcessRunner {
  /// The package root.
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// The denalid executable: $DENALID, else .build/debug/denalid; nil (with an issue recorded) when missing.
  static func denalid(sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    let path =
      ProcessInfo.processInfo.environment["DENALID"] ?? root.appendingPathComponent(".build/debug/denalid").path
    guard FileManager.default.isExecutableFile(atPath: path) else {
      Issue.record("\(path) is missing: build it first (`swift build`; make test does)", sourceLocation: sourceLocation)
      return nil
    }
    return path
  }

  /// The full path of `name` on PATH (or in the sbin directories), nil if absent.
  static func which(_ name: String) -> String? {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  /// Runs `executable arguments`, killing it after `limit`.
  static func run(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:], limit: Duration = .seconds(30)
  ) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // SIGKILL: a child started from a Swift concurrency thread inherits its blocked signals, SIGTERM included.
    let killer = DispatchWorkItem { [process] in if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(Int(limit.components.seconds)), execute: killer)
    let errorData = ErrorData()
    let reader = Thread { errorData.set(errors.fileHandleForReading.readDataToEndOfFile()) }
    reader.start()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    killer.cancel()
    while !reader.isFinished { Thread.sleep(forTimeInterval: 0.001) }
    return ProcessResult(
      status: process.terminationStatus, stdout: String(decoding: outputData, as: UTF8.self),
      stderr: String(decoding: errorData.get(), as: UTF8.self))
  }
}

/// Data handed from the reader thread.
final class ErrorData: @unchecked Sendable {
  private let lock = NSLock()
  private var data = Data()
  func set(_ value: Data) { lock.withLock { data = value } }
  func get() -> Data { lock.withLock { data } }
}

/// Runs `body` on a thread of its own (never on a Swift concurrency thread, which a blocking call would starve).
final class BackgroundThread<Value: Sendable>: @unchecked Sendable {
  private let done = DispatchSemaphore(value: 0)
  private var result: Result<Value, any Error>?

  /// Starts `body` at once.
  init(_ body: @escaping @Sendable () throws -> Value) {
    let thread = Thread { [self] in
      result = Result { try body() }
      done.signal()
    }
    thread.start()
  }

  /// Waits for `body` to return (at most `seconds`) and returns its value.
  func value(within seconds: Int = 30) throws -> Value {
    guard done.wait(timeout: .now() + .seconds(seconds)) == .success, let result else {
      throw POSIXError(.ETIMEDOUT)
    }
    return try result.get()
  }
}

/// Polls `condition` every 10 ms for up to 5 s (blocking: for synchronous tests); records an issue if it never holds.
func waitUntil(_ condition: () -> Bool, sourceLocation: SourceLocation = #_sourceLocation) {
  for _ in 0..<500 {
    if condition() { return }
    usleep(10_000)
  }
  Issue.record("condition not met within 5 s", sourceLocation: sourceLocation)
}
