// WebWindow.swift: the measurement window of `denali-bench web`, the signal that ends its load, and the daemon's
// figures read at each end of the window.
import DenaliCore
import Foundation
import Glibc
import Synchronization

/// The window a row measures: opened and closed on CLOCK_MONOTONIC by the main thread.
final class WebWindow: @unchecked Sendable {
  // Written by the main thread only, before the samples are read.
  private var start: UInt64 = 0, end: UInt64 = 0

  /// Opens the window now.
  func open() { start = monotonicNanoseconds() }

  /// Closes it now.
  func close() { end = monotonicNanoseconds() }

  /// Its length in seconds.
  var seconds: Double { Double(end &- start) / 1e9 }

  /// Whether `time` falls inside it.
  func contains(_ time: UInt64) -> Bool { time >= start && time < end }
}

/// Tells the load clients to stop after their current request.
final class WebStopSignal: Sendable {
  private let flag = Atomic<Bool>(false)

  /// Whether the clients should stop.
  var isSet: Bool { flag.load(ordering: .relaxed) }

  /// Tells them to stop.
  func set() { flag.store(true, ordering: .relaxed) }
}

/// A value computed on a thread of its own, waited for later.
final class ThreadResult<Value: Sendable>: @unchecked Sendable {
  private let done = DispatchSemaphore(value: 0)
  // Written once by the thread before it signals `done`; read after `wait` returns.
  private var value: Value?

  /// Starts `body` on a new thread.
  init(_ body: @escaping @Sendable () -> Value) {
    Thread.detachNewThread { [self] in
      value = body()
      done.signal()
    }
  }

  /// The value, once the thread has computed it.
  func wait() -> Value {
    done.wait()
    // The semaphore orders the thread's write before this read; the thread always writes before signalling.
    guard let value else { fatalError("ThreadResult signalled without a value") }
    return value
  }
}

/// The daemon's counters and this process's CPU at one end of a measurement window.
struct WebDaemonReading {
  /// Swap-ins and swap-outs so far.
  let swapIns: UInt64, swapOuts: UInt64
  /// The daemon's storage bytes so far (0 when /proc cannot be read).
  let diskRead: UInt64, diskWritten: UInt64
  /// The daemon's CPU seconds so far, and its resident set now.
  let daemonCPU: Double, daemonRSS: UInt64
  /// This process's CPU seconds so far (the load generator's threads, and this one, which sleeps).
  let ownCPU: Double

  /// Reads them now.
  init(_ daemon: BenchmarkDaemon) throws {
    let statistics = try daemon.client.statistics()
    swapIns = statistics.swapInsTotal
    swapOuts = statistics.swapOutsTotal
    let storage = daemon.storageBytes()
    diskRead = storage?.read ?? 0
    diskWritten = storage?.written ?? 0
    daemonCPU = daemon.cpuSeconds() ?? 0
    daemonRSS = daemon.residentBytes() ?? 0
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    ownCPU =
      Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
      + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
  }
}
