// Scheduler+Workers.swift: the worker threads: take the runnable VM that has had the least, run one slice of
// it with the lock released, charge it, and put it where the slice's end says.
import KVM
import ThreadConfinement

extension Scheduler {
  func workerLoop(_ index: Int) {
    ThreadConfinement.enter(.worker)
    var clock = SliceClock()
    var next = withState(waiting: { state in state.nextSlice(worker: index) })
    while let slice = next.take() {
      // The slice's end and the choice of the next slice share one lock section: a wake-up costs the worker one
      // acquisition of the scheduler's lock, not three. The slice is handed over, so a finished VM's GuestVM is
      // released inside runSlice, before it is retired.
      let (report, following) = runSlice(consume slice, worker: index, clock: &clock)
      if let report {
        // The GuestVM was released when runSlice returned: "finished" means its resources are gone.
        retire(report)
      }
      next = following ?? withState(waiting: { state in state.nextSlice(worker: index) })
    }
    threadExited()
  }

  /// Runs one slice of `vm` on this worker, records it and takes the next runnable VM in the same lock section
  /// when one is queued. Returns the VM's report when it finished (its last reference, the local `guest`, is
  /// dropped as this function returns) and the next slice, if one was taken.
  private func runSlice(
    _ slice: consuming WorkerSlice, worker: Int, clock: inout SliceClock
  ) -> (VMReport?, WorkerSlice?) {
    let vm = slice.vm
    let guest = slice.guest
    // The slice's wall time starts when it was taken from the run queue (a read of the clock fewer per slice).
    let wallBefore = slice.takenAt
    clock.sliceStarts()
    let waitBefore = guest.disk.waitNanoseconds
    let guestBefore = guest.statistics.guestNanoseconds
    let guestCPUBefore = guest.statistics.guestCPUNanoseconds
    let end: SliceEnd
    do {
      end = try guest.runSlice()
    } catch {
      end = .finished(.hostFailed(reason: "\(error)"))
    }
    let deviceWait = guest.disk.waitNanoseconds &- waitBefore
    let ended = monotonicNanoseconds()
    let cpu = clock.charge(wall: ended &- wallBefore, waited: deviceWait)
    // Read outside the scheduler's lock: a port takes its own lock and then the scheduler's to raise an
    // interrupt, so the reverse order would deadlock.
    let network = guest.network.port?.counters
    let guestTime = guest.statistics.guestNanoseconds &- guestBefore
    let guestCPU = guest.statistics.guestCPUNanoseconds &- guestCPUBefore
    return withState { state in
      state.totalGuestCPU &+= guestCPU
      let report = state.finishSlice(
        vm, guest: guest, worker: worker, end: end, cpu: cpu, deviceWait: deviceWait, guestTime: guestTime,
        network: network, now: ended)
      // A finished VM is retired first (outside the lock); otherwise the next slice is taken now if one is
      // queued. Waiting for one needs the waiting section, which the loop enters.
      guard report == nil, case .done(let next) = state.nextSlice(worker: worker, now: ended),
        let next
      else {
        return (report, nil)
      }
      return (nil, next)
    }
  }

  /// Announces a finished VM whose resources are released.
  func retire(_ report: VMReport) {
    configuration.onFinish?(report)
    withState { state in
      if configuration.onFinish == nil { state.reports.append(report) }
      state.live -= 1
      state.broadcast(.stateChanged)
    }
  }
}

/// A VM a worker has marked running, with its `GuestVM` taken under the same lock.
struct WorkerSlice {
  let vm: ScheduledVM
  let guest: GuestVM
  /// CLOCK_MONOTONIC when the worker took it.
  let takenAt: UInt64
}

extension SchedulerState {
  /// One step of a worker's wait for work: fires due timers, then marks the runnable VM that has had the least
  /// running on `worker` and returns it with its `GuestVM`; `.done(nil)` once the scheduler stops; else waits
  /// for work. `now` is CLOCK_MONOTONIC if the caller read it just before (nil: read here).
  mutating func nextSlice(worker: Int, now: UInt64? = nil) -> MonitorStep<WorkerSlice?, SchedulerCondition> {
    let now = now ?? monotonicNanoseconds()
    fireTimers(now: now)
    while !suspending, let vm = runQueue.popFirst() {
      guard let guest = vm.guest, vm.residency == .resident else { continue }
      // This VM's lines are fetched together rather than missed one after another, and the next one's start
      // coming in meanwhile.
      vm.wakeupFootprint.prefetch()
      runQueue.peekFirst()?.wakeupFootprint.prefetch()
      vm.state = .running
      vm.slicesSinceAdmission += 1
      virtualClock = max(virtualClock, vm.virtualRuntime)
      vm.accounting.timesScheduled += 1
      if let deadline = vm.wokenAtDeadline {
        guest.idleTimeoutPassedBeforeRun()
        vm.accounting.recordWakeup(lateness: now > deadline ? now - deadline : 0)
        vm.wokenAtDeadline = nil
      }
      let sliceEnd = now &+ settings.quantumNanoseconds
      slots[worker] = (vm, sliceEnd)
      wakeTimerThread(by: sliceEnd)
      return .done(WorkerSlice(vm: vm, guest: guest, takenAt: now))
    }
    if stopping { return .done(nil) }
    // The timer thread fires deadlines and signals; workers need no deadline of their own.
    return .wait(.workAvailable, until: nil)
  }

  /// Records the end of a slice and puts the VM where its result says; returns its report if it finished.
  mutating func finishSlice(
    _ vm: ScheduledVM, guest: GuestVM, worker: Int, end: SliceEnd, cpu: UInt64, deviceWait: UInt64, guestTime: UInt64,
    network: NetworkCounters?, now: UInt64
  ) -> VMReport? {
    slots[worker] = nil
    // The slice held its worker for its CPU time and for any time it waited on its disk file: both are charged
    // (the host's own preemption of the worker is not: that would make shares depend on the host's load).
    vm.virtualRuntime &+= cpu &+ deviceWait
    vm.accounting.cpuNanoseconds += cpu
    vm.accounting.guestNanoseconds += guestTime
    totalSliceCPU &+= cpu
    totalGuestTime &+= guestTime
    vm.accounting.exits = guest.statistics.exits
    vm.accounting.hypercalls = guest.statistics.hypercalls
    vm.accounting.idles = guest.statistics.idles
    vm.accounting.network = network
    if vm.accounting.firstHypercallAt == nil {
      vm.accounting.firstHypercallAt = guest.statistics.firstHypercallMonotonic
    }
    switch end {
    case .finished(let outcome):
      markFinished(vm)
      registry[vm.id] = nil
      vm.guest = nil
      guest.interrupts.setListener(nil)
      if gatekeeper != nil {
        gatekeeper?.released(vm)
        vm.residency = .absent
        if let file = guest.swapFile { queueSwapJob(.discard(file)) }
        admitWaitingVMs()
      }
      return VMReport(id: vm.id, name: vm.name, outcome: outcome, accounting: vm.accounting)
    case .yielded, .preempted:
      if end == .preempted { vm.accounting.preemptions += 1 }
      vm.state = .runnable
      queueResident(vm)
    case .idle(let deadline):
      if guest.interrupts.current != 0 || guest.control.hasExpired {
        // An interrupt arrived while it was deciding to idle, or it was stopped meanwhile (its next slice
        // ends it at once): it stays runnable.
        vm.state = .runnable
        queueResident(vm)
      } else {
        enterIdle(vm, until: deadline, now: now)
        vm.wakeupFootprint = guest.wakeupFootprint()
        gatekeeper?.noteIdle(vm)
      }
    }
    return nil
  }
}
