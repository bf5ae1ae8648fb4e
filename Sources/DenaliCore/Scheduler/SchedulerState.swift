// SchedulerState.swift: everything the scheduler's lock guards, and the operations on it: queueing, waking,
// idling, finishing, timers and admission. Reachable only inside the scheduler's `Monitor`.
import DequeModule

/// The condition variables the scheduler's threads wait on.
enum SchedulerCondition: Int, CaseIterable {
  /// A VM was queued to run (workers wait on it).
  case workAvailable
  /// The timer thread should look again: an earlier deadline, a slice started, the scheduler stops.
  case timerThreadWake
  /// A VM finished, a thread exited, a swap-out completed (`waitForAll`, `stop`, `suspendAll` wait on it).
  case stateChanged
  /// Swap work was queued (swap threads wait on it).
  case swapWork
}

/// A unit of swap-thread work.
enum SwapJob {
  /// Boot or swap in this admitted VM.
  case load(ScheduledVM)
  /// Swap this VM out.
  case evict(ScheduledVM)
  /// Delete a finished VM's swap file.
  case discard(SwapFile)
}

/// The scheduler's mutable state. Its methods run with the scheduler's lock held (they can run nowhere
/// else); the condition variables they want signalled are collected and sent when the lock's section ends.
struct SchedulerState {
  /// What the state needs of the configuration.
  struct Settings {
    let quantumNanoseconds: UInt64
    /// How far below the virtual clock a VM queued after a wait may start: the most CPU time sleeping can
    /// earn it ahead of VMs that kept running, nanoseconds.
    let sleeperCredit: UInt64
    let onFinish: (@Sendable (VMReport) -> Void)?
  }

  let settings: Settings
  var runQueue = RunQueue()
  var timers = TimerQueue()
  /// The virtual runtime of the latest slice to start: never decreases.
  var virtualClock: UInt64 = 0
  /// Per worker: the VM it runs and when that slice's quantum ends.
  var slots: [(vm: ScheduledVM, sliceEnd: UInt64)?]
  /// VMs submitted and not yet finished.
  var live = 0
  /// Finished VMs' reports, kept when there is no `onFinish` handler.
  var reports: [VMReport] = []
  var stopping = false
  /// Set by `suspendAll`: no slice starts and nothing is admitted; every VM is being written out.
  var suspending = false
  /// When the timer thread will wake by itself (UInt64.max: not before it is signalled). Workers signal
  /// it only for an earlier deadline, so a slice start usually costs no extra wake-up.
  var timerThreadWakesAt: UInt64 = 0
  var runningThreads = 0
  var started = false
  var totalSliceCPU: UInt64 = 0
  var totalGuestTime: UInt64 = 0
  /// Thread CPU time of the slices inside KVM_RUN while `GuestCPUMeasurement` was on.
  var totalGuestCPU: UInt64 = 0
  var gatekeeper: Gatekeeper?
  /// Every submitted, unfinished VM by id. An idle VM with no deadline is in no queue and no timer, and
  /// the interrupt listener holds it weakly: this keeps it alive until an interrupt wakes it.
  var registry: [UInt64: ScheduledVM] = [:]
  var swapJobs = Deque<SwapJob>()
  var swapTotals = SwapStatistics()
  /// Signals and broadcasts asked for during the current lock section.
  private var pending = PendingSignals()

  init(settings: Settings, workers: Int, gatekeeper: Gatekeeper?) {
    self.settings = settings
    self.slots = Array(repeating: nil, count: workers)
    self.gatekeeper = gatekeeper
  }

  // MARK: Signals

  /// Condition variables to signal once a lock section ends, without allocating.
  struct PendingSignals {
    /// Threads to wake one by one, by condition.
    var counts = SIMD4<Int32>(repeating: 0)
    /// Conditions to broadcast, a bit each.
    var broadcasts: UInt8 = 0
    /// True when nothing is asked for.
    var isEmpty: Bool { broadcasts == 0 && counts == SIMD4(repeating: 0) }
  }

  /// Asks for one thread waiting on `condition` to be woken when the section ends.
  mutating func signal(_ condition: SchedulerCondition) { pending.counts[condition.rawValue] &+= 1 }

  /// Asks for every thread waiting on `condition` to be woken when the section ends.
  mutating func broadcast(_ condition: SchedulerCondition) { pending.broadcasts |= 1 << condition.rawValue }

  /// Takes the signals asked for so far.
  mutating func takeSignals() -> PendingSignals {
    defer { pending = PendingSignals() }
    return pending
  }

  // MARK: Observing

  /// The public status of `vm`.
  func status(of vm: ScheduledVM) -> VMStatus {
    VMStatus(id: vm.id, name: vm.name, phase: phase(of: vm), memorySize: vm.memorySize, accounting: vm.accounting)
  }

  /// Where `vm` is, as the public status says it.
  func phase(of vm: ScheduledVM) -> VMStatus.Phase {
    switch (vm.state, vm.residency) {
    case (.running, _): .running
    case (_, .loading): .swappingIn
    case (_, .unloading): .swappingOut
    case (.runnable, .absent): .waitingForAdmission
    case (.runnable, _): .runnable
    case (.idle, .absent): .swappedOut
    case (.idle, _): .idle
    case (.finished, _): .finished
    }
  }

  /// The live VMs, at most 20 of them, as `vm ID NAME: PHASE`: what a timed-out wait reports.
  func liveSummary() -> [String] {
    registry.values.filter { $0.state != .finished }.sorted { $0.id < $1.id }.prefix(20).map {
      "vm \($0.id) \($0.name): \(phase(of: $0).rawValue)\($0.control?.hasExpired == true ? ", stopped" : "")"
    }
  }

  // MARK: A VM's life

  /// A VM's timeout passed, or it was stopped.
  mutating func timeoutPassed(_ vm: ScheduledVM) {
    vm.control?.markExpired()
    if vm.residency == .absent && (vm.state == .idle || vm.state == .runnable) {
      finishAbsent(vm, outcome: .timedOut)
    } else if vm.state == .idle {
      wake(vm)
    }
  }

  /// Ends a VM that is not in memory: no KVM objects to release, its swap file is deleted on a swap thread.
  mutating func finishAbsent(_ vm: ScheduledVM, outcome: VMOutcome) {
    guard let guest = vm.guest else { return }
    leaveIdle(vm)
    markFinished(vm)
    registry[vm.id] = nil
    vm.guest = nil
    guest.interrupts.setListener(nil)
    if let file = guest.swapFile { queueSwapJob(.discard(file)) }
    record(VMReport(id: vm.id, name: vm.name, outcome: outcome, accounting: vm.accounting))
    live -= 1
    broadcast(.stateChanged)
  }

  /// Keeps or hands over the report of a VM that finished while not in memory.
  mutating func record(_ report: VMReport) {
    if let onFinish = settings.onFinish { onFinish(report) } else { reports.append(report) }
  }

  /// Puts a VM into an idle that ends at `deadline` (nil: only an interrupt ends it); `now` is CLOCK_MONOTONIC if
  /// the caller has just read it (nil: read here when needed).
  mutating func enterIdle(_ vm: ScheduledVM, until deadline: UInt64?, now: UInt64? = nil) {
    vm.state = .idle
    vm.idleGeneration &+= 1
    if let deadline {
      vm.hasWakeTimer = true
      let now = now ?? monotonicNanoseconds()
      let leeway = TimerLeeway.forDuration(deadline > now ? deadline - now : 0)
      addTimer(at: deadline, leeway: leeway, .wake(vm, generation: vm.idleGeneration))
    }
  }

  /// Ends an idle VM's idle before its timer fired: its timer entry is stale from now on.
  mutating func leaveIdle(_ vm: ScheduledVM) {
    guard vm.state == .idle, vm.hasWakeTimer else { return }
    vm.hasWakeTimer = false
    timers.noteStale()
  }

  /// Marks a VM finished: its run-timeout entry, if still pending, is stale from now on.
  mutating func markFinished(_ vm: ScheduledVM) {
    vm.state = .finished
    runQueue.remove(vm)
    if vm.hasTimeoutTimer {
      vm.hasTimeoutTimer = false
      timers.noteStale()
    }
  }

  /// Makes an idle VM runnable: queued at once when it is resident, else through admission.
  mutating func wake(_ vm: ScheduledVM) {
    leaveIdle(vm)
    vm.state = .runnable
    if vm.residency == .resident {
      queueResident(vm)
    } else {
      makeRunnableElsewhere(vm)
    }
  }

  /// A runnable VM that is not resident: waits for admission unless a swap-out of it is under way (its
  /// completion queues it) or it is being loaded (which puts it in the run queue).
  mutating func makeRunnableElsewhere(_ vm: ScheduledVM) {
    guard vm.residency == .absent else { return }
    gatekeeper?.requestAdmission(vm)
    admitWaitingVMs()
  }

  /// Puts a runnable resident VM in the run queue, no lower than the virtual clock minus the sleeper
  /// credit: a VM that waited (idle, or out of memory) runs before those that used up their quantum, and one
  /// that waited long does not bring back a debt of CPU time to collect from the others. A VM that has never
  /// run starts at the clock plus the credit instead (`newVMFloor`).
  /// A held VM is not queued: `Scheduler.release(ids:)` queues it.
  mutating func queueResident(_ vm: ScheduledVM) {
    guard !vm.held else { return }
    let floor =
      vm.accounting.timesScheduled == 0
      ? newVMFloor : virtualClock > settings.sleeperCredit ? virtualClock - settings.sleeperCredit : 0
    vm.virtualRuntime = max(vm.virtualRuntime, floor)
    runQueue.insert(vm)
    signal(.workAvailable)
  }

  /// Where a VM that has never run starts: the virtual clock plus the sleeper credit, behind the VMs already
  /// running. Each new VM's first slice then moves the clock on by the credit; a new VM started at the clock
  /// itself would leave it where it is, and a stream of new VMs (a burst of thousands) would hold every VM
  /// that has run, whose virtual runtime is past the clock, behind all of them until the stream ends.
  var newVMFloor: UInt64 { virtualClock &+ settings.sleeperCredit }

  // MARK: Admission and swap work

  /// Asks the gatekeeper what to load and evict, and queues that work for the swap threads.
  mutating func admitWaitingVMs() {
    guard gatekeeper != nil, !stopping, !suspending else { return }
    let decisions = gatekeeper?.decide(now: monotonicNanoseconds(), runQueue: &runQueue) ?? []
    for decision in decisions {
      switch decision {
      case .load(let vm): queueSwapJob(.load(vm))
      case .evict(let vm): queueSwapJob(.evict(vm))
      }
    }
  }

  /// Queues work for a swap thread.
  mutating func queueSwapJob(_ job: SwapJob) {
    swapJobs.append(job)
    signal(.swapWork)
  }

  /// A swap-out failed: the VM stays resident, runs on, and is not picked again for a while.
  mutating func evictionFailed(_ vm: ScheduledVM, _ error: SwapError, now: UInt64, log: (String) -> Void) {
    log("vm \(vm.id): swap-out failed, the VM stays in memory and is retried later: \(error)")
    swapTotals.swapOutFailures += 1
    vm.accounting.swapFailures += 1
    vm.swapRetryAfter = now &+ 1_000_000_000
    gatekeeper?.evictionFailed(vm)
    if vm.state == .runnable { queueResident(vm) }
  }

  // MARK: Timers

  /// Adds a deadline that may fire up to `leeway` nanoseconds late, waking the timer thread if it would sleep past
  /// that.
  mutating func addTimer(at deadline: UInt64, leeway: UInt64 = 0, _ kind: TimerEntry.Kind) {
    timers.add(at: deadline, leeway: leeway, kind)
    wakeTimerThread(by: deadline.addingReportingOverflow(leeway).overflow ? .max : deadline &+ leeway)
  }

  /// Signals the timer thread if it would otherwise sleep past `deadline`.
  mutating func wakeTimerThread(by deadline: UInt64) {
    guard deadline < timerThreadWakesAt else { return }
    timerThreadWakesAt = 0
    signal(.timerThreadWake)
  }

  /// Fires every deadline due at `now`.
  mutating func fireTimers(now: UInt64) {
    while let entry = timers.popDue(now: now) {
      switch entry.kind {
      case .wake(let vm, _):
        vm.hasWakeTimer = false
        // The timer bit itself is raised by the worker that runs the VM next (`nextSlice`): the VM's
        // interrupts are then in that worker's cache, where here they would be a miss for every VM woken.
        vm.wokenAtDeadline = entry.deadline
        wake(vm)
      case .timeout(let vm):
        vm.hasTimeoutTimer = false
        timeoutPassed(vm)
      }
    }
  }
}
