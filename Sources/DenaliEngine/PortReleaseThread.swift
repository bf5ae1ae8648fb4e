// PortReleaseThread.swift: the engine's thread that removes finished VMs' ports from the switch (never on the
// scheduler's behalf, which may hold its lock). A thread of its own, started with the engine, rather than a
// dispatch queue: libdispatch creates its threads on demand from the thread that queues work, which would be a
// vCPU worker, and a worker's seccomp filter forbids creating threads.
import Foundation
import ThreadConfinement

/// One thread that runs its work each time `wake()` was called since its previous run, until `stop()`.
final class PortReleaseThread: @unchecked Sendable {
  private let condition = NSCondition()
  // Guarded by `condition`.
  private var pending = false
  private var stopping = false
  private var running = false

  /// Starts the thread, which runs `work` when woken (a second call does nothing).
  func start(work: @escaping @Sendable () -> Void) {
    condition.lock()
    defer { condition.unlock() }
    guard !running, !stopping else { return }
    running = true
    let thread = Thread { [self] in loop(work) }
    thread.name = "denali-port-release"
    thread.start()
  }

  /// Asks for one more run of `work` (cheap: a flag and a signal; callable with other locks held).
  func wake() {
    condition.lock()
    pending = true
    condition.signal()
    condition.unlock()
  }

  /// Ends the thread after the run in progress, if any.
  func stop() {
    condition.lock()
    stopping = true
    condition.signal()
    condition.unlock()
  }

  private func loop(_ work: @Sendable () -> Void) {
    ThreadConfinement.enter(.portRelease)
    while true {
      condition.lock()
      while !pending && !stopping { condition.wait() }
      let stop = stopping
      pending = false
      condition.unlock()
      if stop { return }
      work()
    }
  }
}
