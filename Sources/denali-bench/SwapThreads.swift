// SwapThreads.swift: `denali-bench swap`'s stand-in for the daemon's swap threads: jobs 0..<count shared out
// to T threads, each taking the next job when it finishes one, as the scheduler's swap threads take loads and
// eviction batches from one queue.
import DenaliCore
import Foundation
import Synchronization

/// Runs `job(index)` for every index in 0..<count on `threads` threads (each index once; after a job throws, no
/// thread takes another) and waits for them; rethrows the first error any job threw, after every thread stopped.
func onSwapThreads(_ threads: Int, count: Int, _ job: @escaping @Sendable (Int) throws -> Void) throws {
  let next = Atomic<Int>(0)
  let failure = Locked<(any Error)?>(nil)
  let done = DispatchGroup()
  for _ in 0..<max(1, min(threads, count)) {
    done.enter()
    Thread.detachNewThread {
      defer { done.leave() }
      while true {
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
        guard index < count, failure.withLock({ $0 == nil }) else { return }
        do { try job(index) } catch { failure.withLock { if $0 == nil { $0 = error } } }
      }
    }
  }
  done.wait()
  if let error = failure.withLock({ $0 }) { throw error }
}
