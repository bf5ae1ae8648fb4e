// DaemonProcess.swift: runs `denalid serve` in the background with its own socket and state directory, and
// drives it with the `denalid` client commands, as an operator would.
import Foundation
import Glibc
import Testing

/// A `denalid serve` process for one test, with a private socket, state directory and image directory (the
/// built guests). Stop it with `terminate()` (SIGTERM) or `kill()` (SIGKILL); `start()` again to restart it
/// on the same state.
final class DaemonProcess {
  /// Private directory of this daemon (socket, state).
  let directory: String
  /// The control socket.
  var socket: String { directory + "/denalid.sock" }
  /// The state directory (swap files, VM journal).
  var stateDirectory: String { directory + "/state" }
  /// Extra `serve` flags.
  let flags: [String]
  private var process: Process?
  private let errors = DaemonLog()

  /// The umask the daemon is started with (nil: the test process's).
  let umask: String?
  /// The network namespace the daemon runs in (`ip netns exec`), nil for the test's own; a daemon with a TAP
  /// uplink must run in a namespace the test created.
  let namespace: String?

  /// A daemon (not started) with `flags` added to `serve`'s, started with `umask` when given, inside network
  /// namespace `namespace` when given.
  init(flags: [String] = [], umask: String? = nil, namespace: String? = nil, environment: [String: String] = [:]) throws
  {
    self.environment = environment
    self.umask = umask
    self.namespace = namespace
    directory = "/tmp/denali-serve-test-\(getpid())-\(Int.random(in: 0..<1_000_000_000))"
    // Modes are set explicitly, not left to the test's umask: the daemon drops every capability, so it must be
    // able to reach its directory and read its images as their owner.
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory)
    self.flags = flags
    owner = nil
    try Self.copyGuests(into: imageDirectory)
  }

  /// A daemon (not started) with other `flags` on the directory (socket, state, images) of `other`, which must be
  /// stopped; `other` keeps the directory and removes it.
  init(flags: [String], sharing other: DaemonProcess) throws {
    environment = other.environment
    umask = nil
    namespace = other.namespace
    directory = other.directory
    self.flags = flags
    owner = other
  }

  /// Variables added to the daemon's environment (the test hooks: DENALI_SECCOMP_TEST_VIOLATION).
  let environment: [String: String]

  /// The running daemon's pid, nil before start and after a stop.
  var pid: Int32? { process.map(\.processIdentifier) }

  /// Whether the daemon process is still running.
  var isRunning: Bool { process?.isRunning ?? false }

  /// The exit status (or the signal that ended it) once the daemon exited on its own; nil while it runs.
  var exitStatus: Int32? {
    guard let process, !process.isRunning else { return nil }
    return process.terminationStatus
  }

  /// The daemon whose directory this one borrows (it removes the directory), nil when this one owns it.
  private let owner: DaemonProcess?

  /// The daemon's image directory: a copy of the built guests, readable whoever owns the build tree.
  var imageDirectory: String { directory + "/images" }

  /// Copies every built guest (`*.elf`) into `target` (mode 0755), each with mode 0644.
  private static func copyGuests(into target: String) throws {
    let files = FileManager.default
    try files.createDirectory(atPath: target, withIntermediateDirectories: false)
    try files.setAttributes([.posixPermissions: 0o755], ofItemAtPath: target)
    let built = URL(fileURLWithPath: Denalid.guest("hello")).deletingLastPathComponent().path
    for name in (try? files.contentsOfDirectory(atPath: built)) ?? [] where name.hasSuffix(".elf") {
      try files.copyItem(atPath: built + "/" + name, toPath: target + "/" + name)
      try files.setAttributes([.posixPermissions: 0o644], ofItemAtPath: target + "/" + name)
    }
  }

  deinit {
    if let process, process.isRunning {
      Glibc.kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
    if owner == nil { try? FileManager.default.removeItem(atPath: directory) }
  }

  /// The arguments of `denalid serve` for this daemon (its socket, state and image directories, `flags`).
  var serveArguments: [String] {
    [
      "serve", "--config", "/dev/null", "--socket", socket, "--socket-group", "", "--state-dir", stateDirectory,
      "--image-dir", imageDirectory, "--log-level", "notice", "--stop-with-parent",
    ] + flags
  }

  /// Starts `denalid serve` and waits until it answers `GET /v1/health`.
  func start(sourceLocation: SourceLocation = #_sourceLocation) throws {
    let process = Process()
    let arguments = serveArguments
    if let umask {
      // The shell sets the umask and execs the daemon (same process, so signals and the exit status are its).
      process.executableURL = URL(fileURLWithPath: "/bin/sh")
      process.arguments = ["-c", "umask \(umask) && exec \"$0\" \"$@\"", Denalid.executable] + arguments
    } else if let namespace {
      // `ip netns exec` joins the namespace and execs the daemon: the same process, a child of the test.
      process.executableURL = URL(fileURLWithPath: NetworkNamespace.which("ip") ?? "/usr/sbin/ip")
      process.arguments = ["netns", "exec", namespace, Denalid.executable] + arguments
    } else {
      process.executableURL = URL(fileURLWithPath: Denalid.executable)
      process.arguments = arguments
    }
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let errorPipe = Pipe()
    process.standardError = errorPipe
    process.standardOutput = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    let log = errors
    errorPipe.fileHandleForReading.readabilityHandler = { handle in
      let data = handle.availableData
      if !data.isEmpty { log.append(data) }
    }
    try process.run()
    self.process = process
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
      if !process.isRunning {
        Issue.record(
          "denalid serve exited with \(process.terminationStatus): \(log.text)", sourceLocation: sourceLocation)
        return
      }
      if let health = try? client(["stats", "--json"]), health.status == 0 { return }
      Thread.sleep(forTimeInterval: 0.05)
    }
    Issue.record("denalid serve did not answer within 60 s: \(log.text)", sourceLocation: sourceLocation)
  }

  /// The daemon's resident set size in KiB (VmRSS), nil when it is not running.
  var residentKilobytes: Int? {
    guard let process, process.isRunning,
      let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
      let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return nil }
    return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
  }

  /// Everything the daemon has logged so far.
  var log: String { errors.text }

  /// Sends SIGTERM and waits for the daemon to exit; returns its exit status.
  @discardableResult
  func terminate(limit: Duration = .seconds(120)) -> Int32? { stop(signal: SIGTERM, limit: limit) }

  /// Sends SIGKILL and waits for the daemon to die.
  func kill() { _ = stop(signal: SIGKILL, limit: .seconds(30)) }

  private func stop(signal: Int32, limit: Duration) -> Int32? {
    guard let process else { return nil }
    Glibc.kill(process.processIdentifier, signal)
    let deadline = ContinuousClock.now + limit
    while process.isRunning, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
    if process.isRunning {
      Issue.record("denalid serve did not exit within \(limit) of signal \(signal)")
      Glibc.kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
    self.process = nil
    return process.terminationStatus
  }

  /// Runs a client command (`denalid COMMAND --socket ...`).
  func client(_ arguments: [String], limit: Duration = .seconds(120)) throws -> DenalidResult {
    guard let command = arguments.first else { return try Denalid.run(arguments, limit: limit) }
    let separator = arguments.firstIndex(of: "--") ?? arguments.endIndex
    let own = Array(arguments[1..<separator])
    let guest = Array(arguments[separator...])
    return try Denalid.run([command, "--socket", socket] + own + guest, limit: limit)
  }

  /// `GET /v1/health` (no client command asks for it: curl over the socket), decoded loosely.
  func health() throws -> [String: Any] {
    let curl = Process()
    curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    curl.arguments = ["--silent", "--max-time", "30", "--unix-socket", socket, "http://localhost/v1/health"]
    let output = Pipe()
    curl.standardOutput = output
    curl.standardInput = FileHandle.nullDevice
    try curl.run()
    let body = output.fileHandleForReading.readDataToEndOfFile()
    curl.waitUntilExit()
    guard curl.terminationStatus == 0, let object = try JSONSerialization.jsonObject(with: body) as? [String: Any]
    else {
      Issue.record(
        "GET /v1/health failed: curl status \(curl.terminationStatus), \(String(decoding: body, as: UTF8.self))")
      return [:]
    }
    return object
  }

  /// `list --json`, decoded loosely: one dictionary per VM.
  func vms() throws -> [[String: Any]] {
    let result = try client(["list", "--json"])
    guard result.status == 0,
      let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
      let vms = object["vms"] as? [[String: Any]]
    else {
      Issue.record("denalid list --json failed: \(result.status) \(result.stderr)")
      return []
    }
    return vms
  }

  /// `inspect --json ID`, decoded loosely.
  func inspect(_ vm: String) throws -> [String: Any] {
    let result = try client(["inspect", vm, "--json"])
    guard result.status == 0,
      let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    else {
      Issue.record("denalid inspect \(vm) failed: \(result.status) \(result.stderr)")
      return [:]
    }
    return object
  }

  /// Waits until `condition` holds for the VM list (polling), or records an issue after `limit`.
  @discardableResult
  func waitForVMs(
    _ what: String, limit: Duration = .seconds(120), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: ([[String: Any]]) -> Bool
  ) throws -> [[String: Any]] {
    let deadline = ContinuousClock.now + limit
    var vms: [[String: Any]] = []
    while ContinuousClock.now < deadline {
      vms = try self.vms()
      if condition(vms) { return vms }
      Thread.sleep(forTimeInterval: 0.1)
    }
    Issue.record(
      "timed out waiting for \(what); states: \(Dictionary(grouping: vms, by: { $0["state"] as? String ?? "?" }).mapValues(\.count))",
      sourceLocation: sourceLocation)
    return vms
  }
}

/// The daemon's standard error, collected from a background reader.
final class DaemonLog: @unchecked Sendable {
  private let lock = NSLock()
  private var data = Data()

  /// Adds what the daemon wrote.
  func append(_ more: Data) { lock.withLock { data.append(more) } }

  /// Everything so far.
  var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}
