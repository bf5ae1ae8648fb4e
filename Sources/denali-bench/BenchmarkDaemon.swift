import ArgumentParser
import ControlAPI
// BenchmarkDaemon.swift: a `denalid serve` child process in a private temporary directory, for benchmarks that
// measure the daemon through its control API.
import DenaliCommandLine
import Foundation
import Glibc
import SystemCalls

/// `denalid serve` started by this process as a child, with its socket, state directory and log in a fresh
/// directory under /tmp that `removeDirectory()` deletes.
final class BenchmarkDaemon {
  /// The private directory (mode 0700, from mkdtemp).
  let directory: String
  /// The control socket.
  var socket: String { directory + "/s.sock" }
  /// The state directory (VM journal, image copies, swap files).
  var stateDirectory: String { directory + "/state" }
  /// Where the daemon's standard output and error go.
  var logPath: String { directory + "/serve.log" }
  /// A client of the socket.
  var client: ControlClient { ControlClient(socketPath: socket) }
  /// The child process, once started.
  private var process: Process?

  /// Creates a fresh directory `/tmp/PREFIX-XXXXXX`; the daemon is not started yet.
  init(prefix: String) throws {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    // SAFETY: mkdtemp rewrites the template's trailing Xs in place, inside the array's own NUL-terminated storage.
    let created = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }
    guard created != nil else {
      throw ValidationError("cannot create a temporary directory under /tmp: \(SystemCallError.text(for: errno))")
    }
    directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// The `denalid` beside this program: the one the child runs.
  static var executable: String { siblingProgram("denalid") }

  /// The child's process id, while it runs.
  var processIdentifier: Int32? { process.map(\.processIdentifier) }

  /// Starts `denalid serve --config /dev/null` on this directory's socket and state with `flags` added, its
  /// output going to `logPath`.
  func start(flags: [String]) throws {
    guard FileManager.default.createFile(atPath: logPath, contents: nil),
      let log = FileHandle(forWritingAtPath: logPath)
    else {
      throw ValidationError("cannot create \(logPath)")
    }
    defer { try? log.close() }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Self.executable)
    process.arguments =
      [
        "serve", "--config", "/dev/null", "--socket", socket, "--socket-group", "", "--state-dir", stateDirectory,
        "--stop-with-parent",
      ] + flags
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = log
    process.standardError = log
    try process.run()
    self.process = process
  }

  /// Waits until `GET /v1/stats` answers; throws, with the end of the daemon's log, when the daemon exits first
  /// or `limit` passes.
  func waitUntilReady(limit: Duration) throws {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
      guard let process, process.isRunning else {
        let status = process?.terminationStatus ?? -1
        throw ValidationError(
          "denalid serve exited with status \(status) before answering; its log:\n\(logTail(lines: 30))")
      }
      if (try? client.statistics()) != nil { return }
      Thread.sleep(forTimeInterval: 0.05)
    }
    throw ValidationError("denalid serve did not answer GET /v1/stats within \(limit); its log:\n\(logTail(lines: 30))")
  }

  /// Sends SIGTERM and waits up to `limit`; returns how it ended, or nil (after SIGKILL) when it did not exit.
  func terminate(limit: Duration) -> (reason: Process.TerminationReason, status: Int32)? {
    guard let process else { return nil }
    defer { self.process = nil }
    guard process.isRunning else { return (process.terminationReason, process.terminationStatus) }
    kill(process.processIdentifier, SIGTERM)
    let deadline = ContinuousClock.now + limit
    while process.isRunning, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
    guard !process.isRunning else {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
      return nil
    }
    return (process.terminationReason, process.terminationStatus)
  }

  /// Kills the daemon if it still runs (SIGKILL), for error paths.
  func killIfRunning() {
    guard let process, process.isRunning else { return }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    self.process = nil
  }

  /// User plus system CPU time of the daemon so far in seconds, from /proc/PID/stat; nil when unreadable.
  func cpuSeconds() -> Double? {
    guard let pid = processIdentifier, let text = Self.read("/proc/\(pid)/stat"),
      let close = text.lastIndex(of: ")")
    else { return nil }
    // Fields after the command name, which ends at the last ')': state is field 3, utime 14 and stime 15.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
  }

  /// The daemon's peak resident set (VmHWM) in bytes, from /proc/PID/status; nil when unreadable.
  func peakResidentBytes() -> UInt64? { statusField("VmHWM").map { $0 * 1024 } }

  /// The daemon's resident set now (VmRSS) in bytes, from /proc/PID/status; nil when unreadable.
  func residentBytes() -> UInt64? { statusField("VmRSS").map { $0 * 1024 } }

  /// A numeric field of /proc/PID/status (its first word), nil when unreadable.
  private func statusField(_ name: String) -> UInt64? {
    guard let pid = processIdentifier, let text = Self.read("/proc/\(pid)/status") else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
      let words = line.dropFirst(name.count + 1).split { $0 == " " || $0 == "\t" }
      if let first = words.first, let value = UInt64(first) { return value }
    }
    return nil
  }

  /// The daemon's storage I/O so far (read_bytes and write_bytes of /proc/PID/io: what reached the block layer,
  /// so reads the page cache served are not counted); nil when unreadable.
  func storageBytes() -> (read: UInt64, written: UInt64)? {
    guard let pid = processIdentifier, let text = Self.read("/proc/\(pid)/io") else { return nil }
    var read: UInt64?
    var written: UInt64?
    for line in text.split(separator: "\n") {
      let parts = line.split(separator: ":")
      guard parts.count == 2, let value = UInt64(parts[1].trimmingCharacters(in: .whitespaces)) else { continue }
      if parts[0] == "read_bytes" { read = value }
      if parts[0] == "write_bytes" { written = value }
    }
    guard let read, let written else { return nil }
    return (read, written)
  }

  /// The last `lines` lines of the daemon's log.
  func logTail(lines: Int) -> String {
    guard let text = Self.read(logPath) else { return "(no log at \(logPath))" }
    return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
  }

  /// Deletes the directory and everything in it.
  func removeDirectory() {
    try? FileManager.default.removeItem(atPath: directory)
  }

  /// A whole file as text (read to its end, so /proc files work too).
  private static func read(_ path: String) -> String? {
    guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
    defer { try? handle.close() }
    guard let data = try? handle.readToEnd() else { return nil }
    return String(decoding: data, as: UTF8.self)
  }
}
