// Scheduler+Timers.swift: the timer thread: fires due deadlines even while every worker is busy, retries
// admission, and kicks a VM whose quantum ended while another waits.
import ThreadConfinement

extension Scheduler {
  /// The timer thread. A kicked slot is kicked again one quantum later if it has not ended by then, so no
  /// kick can be lost for good.
  func timerLoop() {
    ThreadConfinement.enter(.preemptor)
    withState(waiting: { state in
      state.timerThreadWakesAt = 0
      guard !state.stopping else { return .done(()) }
      let now = monotonicNanoseconds()
      // Each VM a timer queues signals one worker (`queueResident`): a lone wake-up wakes one worker, not all.
      state.fireTimers(now: now)
      // Each timer may fire up to its leeway late: one wake-up then serves every VM due by then.
      var earliest = state.timers.nextWake(now: now)
      if let gatekeeper = state.gatekeeper, gatekeeper.waitingCount > 0 {
        state.admitWaitingVMs()
        earliest = min(earliest ?? .max, now &+ Self.admissionRetry)
      }
      let othersWaiting = !state.runQueue.isEmpty
      for index in state.slots.indices {
        guard let slot = state.slots[index] else { continue }
        var sliceEnd = slot.sliceEnd
        if sliceEnd <= now {
          if othersWaiting { slot.vm.control?.preempt() }
          sliceEnd = now &+ state.settings.quantumNanoseconds
          state.slots[index] = (slot.vm, sliceEnd)
        }
        earliest = min(earliest ?? .max, sliceEnd)
      }
      state.timerThreadWakesAt = earliest ?? .max
      return .wait(.timerThreadWake, until: earliest)
    })
    threadExited()
  }
}
