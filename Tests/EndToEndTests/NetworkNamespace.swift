// NetworkNamespace.swift: a private network namespace for one test (created with `ip netns add`, always deleted),
// and running commands inside it.
import Foundation
import Testing

/// A network namespace of the test's own, named uniquely, deleted when the test is done with it.
final class NetworkNamespace {
  /// Its name (`denali-test-XXXXXXXX`).
  let name: String

  /// True when this machine can run namespace tests (root, `ip`, /dev/net/tun and the tools); otherwise
  /// prints why and returns false, or records an issue under CI=true (CI runs as root with scripts/setup.sh).
  static func available(tools: [String] = []) -> Bool {
    var missing: [String] = []
    if getuid() != 0 { missing.append("root") }
    if !FileManager.default.fileExists(atPath: "/dev/net/tun") { missing.append("/dev/net/tun") }
    for tool in ["ip"] + tools where which(tool) == nil { missing.append(tool) }
    guard missing.isEmpty else {
      let message =
        "network namespace tests need \(missing.joined(separator: ", ")) (scripts/setup.sh installs the tools)"
      if ProcessInfo.processInfo.environment["CI"] == "true" {
        Issue.record("\(message)")
      } else {
        print("skipping: \(message)")
      }
      return false
    }
    return true
  }

  /// The full path of `tool` on PATH (or /usr/sbin, /sbin), or nil.
  static func which(_ tool: String) -> String? {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    for directory in path.split(separator: ":") {
      let candidate = "\(directory)/\(tool)"
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
  }

  /// Creates the namespace and brings its loopback up.
  init() throws {
    name = "denali-test-" + UUID().uuidString.prefix(8).lowercased()
    let created = try Self.command(["ip", "netns", "add", name])
    guard created.status == 0 else { throw NamespaceError.command("ip netns add \(name): \(created.output)") }
    _ = try? Self.command(["ip", "-n", name, "link", "set", "lo", "up"])
  }

  deinit {
    _ = try? Self.command(["ip", "netns", "delete", name])
  }

  /// Runs `arguments` inside the namespace, waits for it (at most `limit`), and returns status and output.
  func run(_ arguments: [String], limit: Duration = .seconds(30)) throws -> (status: Int32, output: String) {
    try Self.command(["ip", "netns", "exec", name] + arguments, limit: limit)
  }

  /// Starts `arguments` inside the namespace without waiting.
  func start(_ arguments: [String]) throws -> BackgroundProcess {
    try BackgroundProcess(["ip", "netns", "exec", name] + arguments)
  }

  /// Waits until interface `device` in the namespace has an IPv4 address (the daemon's TAP is up).
  func waitForInterface(_ device: String, limit: Duration = .seconds(20)) -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
      if let shown = try? Self.command(["ip", "-n", name, "-4", "addr", "show", "dev", device]),
        shown.status == 0, shown.output.contains("inet ")
      {
        return true
      }
      Thread.sleep(forTimeInterval: 0.05)
    }
    return false
  }

  /// Runs a command (found on PATH) with stdin closed, output and errors merged, killed after `limit`.
  static func command(_ arguments: [String], input: String? = nil, limit: Duration = .seconds(30)) throws
    -> (status: Int32, output: String)
  {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: which(arguments[0]) ?? arguments[0])
    process.arguments = Array(arguments.dropFirst())
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let inputPipe = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : inputPipe
    try process.run()
    if let input {
      inputPipe.fileHandleForWriting.write(Data(input.utf8))
      try? inputPipe.fileHandleForWriting.close()
    }
    let killer = DispatchWorkItem { [process] in if process.isRunning { process.terminate() } }
    DispatchQueue.global().asyncAfter(
      deadline: .now() + .milliseconds(Int(limit.components.seconds * 1000)), execute: killer)
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    killer.cancel()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
  }
}

/// Why a namespace could not be set up.
enum NamespaceError: Error {
  /// A command failed.
  case command(String)
}

/// A process running in the background, its output collected until it exits.
final class BackgroundProcess: @unchecked Sendable {
  private let process = Process()
  private let output = Pipe()
  private let errors = Pipe()
  private let lock = NSLock()
  private var outData = Data()
  private var errData = Data()
  private let readers = DispatchGroup()

  init(_ arguments: [String]) throws {
    process.executableURL = URL(fileURLWithPath: NetworkNamespace.which(arguments[0]) ?? arguments[0])
    process.arguments = Array(arguments.dropFirst())
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = FileHandle.nullDevice
    try process.run()
    for (pipe, isError) in [(output, false), (errors, true)] {
      readers.enter()
      Thread { [self] in
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        lock.withLock { if isError { errData = data } else { outData = data } }
        readers.leave()
      }.start()
    }
  }

  /// Waits for the process to exit (killing it after `limit`); returns its status, stdout and stderr.
  func wait(limit: Duration = .seconds(60)) -> (status: Int32, stdout: String, stderr: String) {
    let deadline = ContinuousClock.now + limit
    while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
    if process.isRunning {
      Issue.record("\(process.arguments ?? []) did not finish within \(limit); killed")
      process.terminate()
    }
    process.waitUntilExit()
    readers.wait()
    return lock.withLock {
      (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
  }
}
