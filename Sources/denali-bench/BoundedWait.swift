// BoundedWait.swift: the benchmarks' waits, each with a limit that, when it passes, says what was awaited.
import DenaliCore
import Foundation
import Synchronization

/// Runs `body`, which waits on `process` (reads its output to the end, waits for its exit), with a watchdog
/// that kills the process once `limit` has passed; then throws, naming `what` was awaited.
func withDeadline<T>(_ process: Process, limit: Duration, what: String, _ body: () throws -> T) throws -> T {
  let fired = Atomic<Bool>(false)
  let watchdog = DispatchWorkItem { [process] in
    guard process.isRunning else { return }
    fired.store(true, ordering: .relaxed)
    kill(process.processIdentifier, SIGKILL)
  }
  DispatchQueue.global().asyncAfter(
    deadline: .now() + .nanoseconds(Int(min(nanoseconds(limit), UInt64(Int.max)))), execute: watchdog)
  defer { watchdog.cancel() }
  let result = try body()
  if fired.load(ordering: .relaxed) {
    throw BenchmarkError("gave up waiting for \(what) after \(limit): killed \(process.executableURL?.path ?? "it")")
  }
  return result
}

/// Waits for `process` to exit within `limit` (killing it and throwing after).
func waitForExit(_ process: Process, limit: Duration, what: String) throws {
  try withDeadline(process, limit: limit, what: what) { process.waitUntilExit() }
}

extension Scheduler {
  /// Waits up to `limit` for every VM to finish; when it passes, stops every VM (waiting up to 10 s more for
  /// them) and throws, naming the VMs that were still live and where each was.
  func finishAll(within limit: Duration) throws -> [VMReport] {
    do {
      return try waitForAll(within: limit)
    } catch {
      expireAll()
      _ = try? waitForAll(within: .seconds(10))
      throw BenchmarkError("\(error)")
    }
  }
}
