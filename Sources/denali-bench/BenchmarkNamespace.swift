import ArgumentParser
// BenchmarkNamespace.swift: runs a network benchmark inside a network namespace of its own: the command re-runs
// itself there (created before, deleted after), so its TAP devices and traffic never touch the host's network.
import DenaliCommandLine
import Foundation

/// The namespace a network benchmark measures in.
enum BenchmarkNamespace {
  /// Set in the re-run's environment to the namespace's name.
  static let variable = "DENALI_BENCH_NETNS"

  /// The namespace this process runs in for a benchmark (nil: not yet inside one).
  static var current: String? { ProcessInfo.processInfo.environment[variable] }

  /// Creates namespace `PREFIX-PID` with its loopback up, runs this same command line inside it, deletes the
  /// namespace, and throws the re-run's exit status if it failed.
  static func rerunInside(prefix: String, benchmark: String) throws {
    let name = "\(prefix)-\(getpid())"
    guard try command(["ip", "netns", "add", name]) == 0 else {
      throw ValidationError("could not create network namespace \(name) (bench \(benchmark) needs root and iproute2)")
    }
    defer { _ = try? command(["ip", "netns", "delete", name]) }
    _ = try command(["ip", "-n", name, "link", "set", "lo", "up"])
    var environment = ProcessInfo.processInfo.environment
    environment[variable] = name
    let status = try command(
      ["ip", "netns", "exec", name, executable] + Array(CommandLine.arguments.dropFirst()),
      environment: environment)
    if status != 0 { throw ExitCode(status) }
  }

  /// This executable's path (it runs itself again inside the namespace).
  static var executable: String { siblingProgram("denali-bench") }

  /// Whether `tool` is an executable on PATH (or in /usr/sbin, /sbin).
  static func isInstalled(_ tool: String) -> Bool {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
  }

  /// Runs a program (searched on PATH) with inherited output; returns its exit status.
  static func command(_ arguments: [String], environment: [String: String]? = nil) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.standardInput = FileHandle.nullDevice
    try process.run()
    try waitForExit(process, limit: .seconds(3600), what: arguments.prefix(4).joined(separator: " "))
    return process.terminationStatus
  }
}
