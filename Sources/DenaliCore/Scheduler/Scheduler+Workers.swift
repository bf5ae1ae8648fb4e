// Scheduler+Workers.swift: the worker threads: take the runnable VM that has had the least, run one slice of
// it with the lock released, charge it, and put it where the slice's end says.
import KVM
import ThreadConfinement

extension Scheduler {
  func workerLoop(_ index: Int) {
    ThreadConfinement.enter(.worker)
    var clock = SliceClock()
    while let vm = nextSlice(worker: index) {
      if let report = runSlice(of: vm, worker: index, clock: &clock) {
        // The GuestVM was released when runSlice returned: "finished" means its resources are gone.
        retire(report)
      }
    }
    threadExited()
  }

  /// Blocks until a VM is runnable (or the scheduler stops), then marks it running on `worker`.
  private func nextSlice(worker: Int) -> ScheduledVM? {
    withState(waiting: { state in
      let now = monotonicNanoseconds()
      state.fireTimers(now: now)
      while !state.suspending, let vm = state.runQueue.popFirst() {
        guard vm.guest != nil, vm.residency == .resident else { continue }
        vm.state = .running
        vm.slicesSinceAdmission += 1
        state.virtualClock = max(state.virtualClock, vm.virtualRuntime)
        vm.accounting.timesScheduled += 1
        if let deadline = vm.wokenAtDeadline {
          vm.accounting.recordWakeup(lateness: now > deadline ? now - deadline : 0)
          vm.wokenAtDeadline = nil
        }
        let sliceEnd = now &+ state.settings.quantumNanoseconds
        state.slots[worker] = (vm, sliceEnd)
        state.wakeTimerThread(by: sliceEnd)
        return .done(vm)
      }
      if state.stopping { return .done(nil) }
      // The timer thread fires deadlines and signals; workers need no deadline of their own.
      return .wait(.workAvailable, until: nil)
    })
  }

  /// Runs one slice of `vm` on this worker and records it. Returns the VM's report when it finished;
  /// its last reference (the local `guest`) is dropped as this function returns.
  private func runSlice(of vm: ScheduledVM, worker: Int, clock: inout SliceClock) -> VMReport? {
    guard let guest = withState({ _ in vm.guest }) else { return nil }
    clock.sliceStarts()
    let wallBefore = monotonicNanoseconds()
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
    let cpu = clock.charge(wall: monotonicNanoseconds() &- wallBefore, waited: deviceWait)
    // Read outside the scheduler's lock: a port takes its own lock and then the scheduler's to raise an
    // interrupt, so the reverse order would deadlock.
    let network = guest.network.port?.counters
    let guestTime = guest.statistics.guestNanoseconds &- guestBefore
    let guestCPU = guest.statistics.guestCPUNanoseconds &- guestCPUBefore
    return withState { state in
      state.totalGuestCPU &+= guestCPU
      return state.finishSlice(
        vm, guest: guest, worker: worker, end: end, cpu: cpu, deviceWait: deviceWait, guestTime: guestTime,
        network: network)
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

extension SchedulerState {
  /// Records the end of a slice and puts the VM where its result says; returns its report if it finished.
  mutating func finishSlice(
    _ vm: ScheduledVM, guest: GuestVM, worker: Int, end: SliceEnd, cpu: UInt64, deviceWait: UInt64, guestTime: UInt64,
    network: NetworkCounters?
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
        enterIdle(vm, until: deadline)
        gatekeeper?.noteIdle(vm)
      }
    }
    return nil
  }
}
