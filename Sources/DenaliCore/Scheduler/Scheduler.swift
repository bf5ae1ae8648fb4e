// Scheduler.swift: M:N scheduling of many single-vCPU VMs over a few worker threads: the configuration, the
// public operations and the lock. The threads' loops are in Scheduler+Workers, +Timers and +SwapWorkers; the
// state they share, and what is done to it, in SchedulerState.
import Foundation
import KVM

/// Runs VMs on a pool of worker threads until each finishes.
///
/// The next slice goes to the runnable VM that has had the least CPU time (its virtual runtime); a VM runs
/// until it idles, yields, finishes, or its quantum expires while others wait (it is then kicked out of
/// KVM_RUN). An idling VM leaves the run queue until its deadline or an interrupt. Denali's reward for idling
/// is the sleeper credit: a VM queued after a wait starts no lower than the clock minus half a quantum, so
/// one that slept runs before every VM that merely used up its quantum, but no pattern of tiny idles,
/// yields and spins earns a VM more than its fair share of the CPU.
///
/// With a memory budget, only VMs in memory are in the run queues. A VM that becomes runnable while out of
/// memory waits for admission; the gatekeeper admits it when its memory fits the budget, swapping out
/// other VMs (idle the longest first, never a running one) to make room. Swap threads do all swap I/O,
/// never the workers.
public final class Scheduler: Sendable {
  /// How the scheduler runs.
  public struct Configuration: Sendable {
    /// Worker threads (default: one per core).
    public var workers: Int
    /// Longest slice a VM runs while others wait.
    public var quantum: Duration
    /// Swapping: the memory budget, where swap files go and the KVM system to restore VMs with; nil to keep
    /// every VM in memory.
    public var swapping: Swapping?
    /// Called once for every VM that finishes, after its resources are released or, for a VM that was not in
    /// memory, with the scheduler's lock held: it must not call the scheduler. With a handler the scheduler
    /// keeps no reports (a long-running daemon would accumulate them) and `waitForAll` returns none.
    public var onFinish: (@Sendable (VMReport) -> Void)?

    /// A configuration with `workers` threads and a `quantum`.
    public init(
      workers: Int = ProcessInfo.processInfo.activeProcessorCount, quantum: Duration = .milliseconds(10),
      swapping: Swapping? = nil, onFinish: (@Sendable (VMReport) -> Void)? = nil
    ) {
      self.workers = max(1, workers)
      self.quantum = quantum
      self.swapping = swapping
      self.onFinish = onFinish
    }
  }

  /// The gatekeeper's settings.
  public struct Swapping: Sendable {
    /// Bytes of guest memory that may be in memory at once.
    public var memoryBudget: UInt64
    /// The directory of swap files.
    public var store: SwapStore
    /// The KVM system VMs are loaded and restored with.
    public var system: KVMSystem
    /// The machine shells VMs are loaded into (KVM VM, vCPU and memory region), given back when they leave
    /// memory.
    public var shells: ShellPool
    /// Threads doing swap I/O.
    public var threads: Int
    /// Most swap-outs made durable by one sync.
    public var batchLimit: Int
    /// Where swap failures are reported (one line each).
    public var log: @Sendable (String) -> Void

    /// The default budget: half of the machine's physical memory.
    public static var defaultMemoryBudget: UInt64 {
      let pages = sysconf(Int32(_SC_PHYS_PAGES))
      let pageSize = sysconf(Int32(_SC_PAGESIZE))
      return pages > 0 && pageSize > 0 ? UInt64(pages) * UInt64(pageSize) / 2 : 1 << 30
    }

    /// Shells kept for reuse by default: enough for every VM a spawn burst has in flight under a small budget,
    /// few enough that their KVM objects cost little (a kept shell holds no guest memory).
    public static let defaultShellsKept = 64

    /// Settings for a budget of `memoryBudget` bytes with swap files in `store`; up to `shellsKept` machine shells
    /// are kept for reuse.
    public init(
      memoryBudget: UInt64, store: SwapStore, system: KVMSystem, threads: Int = 2, batchLimit: Int = 32,
      shellsKept: Int = defaultShellsKept, log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
      self.memoryBudget = memoryBudget
      self.store = store
      self.system = system
      self.shells = ShellPool(system: system, capacity: shellsKept)
      self.threads = max(1, threads)
      self.batchLimit = max(1, batchLimit)
      self.log = log
    }
  }

  /// The configuration in force.
  public let configuration: Configuration
  /// How long admission may wait before the timer thread asks the gatekeeper again (victims may have
  /// become evictable, or a failed swap-out's backoff may have ended).
  static let admissionRetry: UInt64 = 20_000_000

  /// All mutable state, reachable only with the lock held.
  let monitor: Monitor<SchedulerState, SchedulerCondition>

  /// A scheduler; call `start()` before or after submitting VMs.
  public init(configuration: Configuration = Configuration()) {
    self.configuration = configuration
    let (seconds, attoseconds) = configuration.quantum.components
    let quantum = max(100_000, UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds)) / 1_000_000_000)
    monitor = Monitor(
      SchedulerState(
        settings: .init(quantumNanoseconds: quantum, sleeperCredit: quantum / 2, onFinish: configuration.onFinish),
        workers: configuration.workers, gatekeeper: configuration.swapping.map { Gatekeeper(budget: $0.memoryBudget) }))
  }

  // MARK: The lock

  /// Runs `body` on the state with the lock held, then sends the signals it asked for.
  func withState<R, E: Error>(_ body: (inout SchedulerState) throws(E) -> R) throws(E) -> R {
    let (result, signals) = try monitor.withLock { (state) throws(E) -> (R, SchedulerState.PendingSignals) in
      let result = try body(&state)
      return (result, state.takeSignals())
    }
    send(signals)
    return result
  }

  /// Steps `step` on the state with the lock held until it is done, waiting (lock released) as it says in
  /// between; the signals each step asks for are sent before it waits.
  func withState<R, E: Error>(
    waiting step: (inout SchedulerState) throws(E) -> MonitorStep<R, SchedulerCondition>
  ) throws(E) -> R {
    try monitor.withLock(waiting: { (state) throws(E) -> MonitorStep<R, SchedulerCondition> in
      let next = try step(&state)
      send(state.takeSignals())
      return next
    })
  }

  private func send(_ signals: SchedulerState.PendingSignals) {
    guard !signals.isEmpty else { return }
    for condition in SchedulerCondition.allCases {
      if signals.broadcasts & (1 << condition.rawValue) != 0 {
        monitor.broadcast(condition)
      } else {
        // More signals than threads that wait on the condition wake nobody more: a timer batch queues about
        // 80 VMs at a time with 10,000 idlers, and signalled each of the two workers 40 times.
        var count = Int(signals.counts[condition.rawValue])
        if condition == .workAvailable { count = min(count, configuration.workers) }
        for _ in 0..<count { monitor.signal(condition) }
      }
    }
  }

  // MARK: Starting, submitting, observing, stopping

  /// Starts the worker threads, the timer thread and the swap threads.
  public func start() {
    let alreadyStarted = withState { state in
      defer { state.started = true }
      if !state.started { state.runningThreads = configuration.workers + 1 + (configuration.swapping?.threads ?? 0) }
      return state.started
    }
    guard !alreadyStarted else { return }
    // Swap threads create vCPUs; the watchdog's thread must not be started by one of them (see ThreadConfinement).
    configuration.swapping?.system.startRunWatchdog()
    configuration.swapping?.shells.startResetThread()
    for index in 0..<configuration.workers {
      let thread = Thread { [self] in workerLoop(index) }
      thread.name = "denali-worker-\(index)"
      thread.stackSize = 1 << 20
      thread.start()
    }
    let timerThread = Thread { [self] in timerLoop() }
    timerThread.name = "denali-preemptor"
    timerThread.start()
    for index in 0..<(configuration.swapping?.threads ?? 0) {
      let thread = Thread { [self] in swapLoop() }
      thread.name = "denali-swap-\(index)"
      thread.start()
    }
  }

  /// Queues `guest` to run; `name` appears in its report. Its configured timeout starts now. With a memory
  /// budget, a VM created without `resident` waits for admission and is booted by a swap thread; one
  /// restored from a swap image whose guest was idling (`restoredIdle`) stays swapped out, idle, until its
  /// deadline or an interrupt.
  ///
  /// A `held` VM is admitted and loaded like any other but never enters a run queue, so it never runs, until
  /// `release(ids:)`; `discard(ids:)` ends it instead (the daemon holds a new VM while its journal record is
  /// made durable, so that loading it overlaps the sync and no VM runs unrecorded).
  public func submit(_ guest: GuestVM, name: String, held: Bool = false) {
    let vm = ScheduledVM(guest: guest, name: name)
    vm.held = held
    // The listener names the VM by id and identity, not by a weak reference: a weak reference gives the object a
    // side table, and every retain and release of it (dozens per wake-up) then takes the slow path through it.
    let id = vm.id
    let identity = ObjectIdentifier(guest)
    guest.interrupts.setListener { [weak self] in self?.interruptRaised(id: id, guest: identity) }
    withState { state in
      state.live += 1
      state.registry[vm.id] = vm
      vm.virtualRuntime = state.newVMFloor
      if let timeout = guest.configuration.timeout {
        vm.hasTimeoutTimer = true
        state.addTimer(at: monotonicNanoseconds() &+ nanoseconds(timeout), .timeout(vm))
      }
      if vm.residency == .resident {
        state.gatekeeper?.chargeResident(vm)
        if !held {
          state.runQueue.insert(vm)
          state.signal(.workAvailable)
        }
      } else if let idle = guest.restoredIdle, guest.interrupts.current == 0 {
        // Like a VM evicted while idle: its timer or an interrupt (the listener is set) wakes it.
        state.enterIdle(vm, until: idle.deadline)
      } else {
        state.makeRunnableElsewhere(vm)
      }
    }
  }

  /// Lets the held VMs `ids` run (one lock section for all): each is queued at once if it is in memory and
  /// runnable, else as its load completes. Ids of VMs that are not held or not live are passed over.
  public func release(ids: [UInt64]) {
    withState { state in
      for id in ids {
        guard let vm = state.registry[id], vm.held else { continue }
        vm.held = false
        if vm.state == .runnable && vm.residency == .resident { state.queueResident(vm) }
      }
    }
  }

  /// Ends the held VMs `ids` without any of them ever running: each is stopped, then finished at once if it is
  /// not in memory, else by a worker before any KVM_RUN (`GuestVM.runSlice` checks the stop first), or as its
  /// load completes. Their reports go to `onFinish` like any other. Ids of VMs that are not held or not live are
  /// passed over.
  public func discard(ids: [UInt64]) {
    withState { state in
      for id in ids {
        guard let vm = state.registry[id], vm.held else { continue }
        vm.control?.markExpired()
        vm.held = false
        state.timeoutPassed(vm)
        if vm.state == .runnable && vm.residency == .resident { state.queueResident(vm) }
      }
    }
  }

  /// Makes an idle VM runnable when a device raises one of its interrupts, or ends one stopped through its
  /// `VMControl` (at once if swapped out, else at its next slice).
  private func interruptRaised(id: UInt64, guest: ObjectIdentifier) {
    withState { state in
      // A VM that has finished is no longer registered (nor is its guest's listener set).
      guard let vm = state.registry[id], let current = vm.guest, ObjectIdentifier(current) == guest else { return }
      if vm.state != .finished, vm.control?.hasExpired == true {
        state.timeoutPassed(vm)
      } else if vm.state == .idle {
        state.wake(vm)
      }
    }
  }

  /// The state and accounting of every live VM (accounting as of each VM's last slice).
  public func snapshot() -> [VMStatus] {
    withState { state in
      var statuses: [VMStatus] = []
      statuses.reserveCapacity(state.live)
      for vm in state.registry.values where vm.state != .finished { statuses.append(state.status(of: vm)) }
      return statuses.sorted { $0.id < $1.id }
    }
  }

  /// The state and accounting of live VM `id`, nil when there is none.
  public func status(id: UInt64) -> VMStatus? {
    withState { state in
      guard let vm = state.registry[id], vm.state != .finished else { return nil }
      return state.status(of: vm)
    }
  }

  /// Stops live VM `id` as if its timeout had passed. A VM that is not in memory ends at once, without
  /// being swapped in; others end at their next chance. Returns false when there is no such live VM.
  @discardableResult
  public func expire(id: UInt64) -> Bool {
    withState { state in
      guard let vm = state.registry[id], vm.state != .finished else { return false }
      state.timeoutPassed(vm)
      return true
    }
  }

  /// Stops every live VM as `expire(id:)` does.
  public func expireAll() {
    withState { state in
      for vm in state.registry.values where vm.state != .finished { state.timeoutPassed(vm) }
    }
  }

  /// Swap totals so far.
  public var swapStatistics: SwapStatistics { withState { $0.swapTotals } }

  /// VMs in memory (resident, or being loaded or swapped out) and VMs waiting for admission; nil without a
  /// memory budget.
  public var memoryOccupancy: (inMemory: Int, chargedBytes: UInt64, waiting: Int)? {
    withState { state in state.gatekeeper.map { ($0.chargedCount, $0.chargedBytes, $0.waitingCount) } }
  }

  /// Number of VMs submitted and not yet finished.
  public var liveCount: Int { withState { $0.live } }

  /// Running totals over every slice so far, in nanoseconds: the worker CPU time of the slices, the wall time
  /// of those slices spent inside KVM_RUN (the guests' own work), and the thread CPU time inside KVM_RUN while
  /// `GuestCPUMeasurement` was on. The process's CPU time minus the last is the daemon's own work.
  public var sliceTotals: (cpu: UInt64, guest: UInt64, guestCPU: UInt64) {
    withState { ($0.totalSliceCPU, $0.totalGuestTime, $0.totalGuestCPU) }
  }

  /// Timer entries stored, live or stale (for tests).
  var timerEntriesStored: Int { withState { $0.timers.storedEntries } }

  /// Blocks until every submitted VM has finished, then returns their reports in completion order.
  public func waitForAll() -> [VMReport] {
    withState(waiting: { state in state.live > 0 ? .wait(.stateChanged, until: nil) : .done(state.reports) })
  }

  /// Like `waitForAll()`, but gives up after `limit`: then throws, naming the VMs still live and where each is.
  public func waitForAll(within limit: Duration) throws(SchedulerWaitTimeout) -> [VMReport] {
    let deadline = monotonicNanoseconds() &+ nanoseconds(limit)
    return try withState(waiting: {
      (state) throws(SchedulerWaitTimeout) -> MonitorStep<[VMReport], SchedulerCondition> in
      guard state.live > 0 else { return .done(state.reports) }
      guard monotonicNanoseconds() < deadline else {
        throw SchedulerWaitTimeout(waitedFor: "every VM to finish", limit: limit, live: state.liveSummary())
      }
      return .wait(.stateChanged, until: deadline)
    })
  }

  /// Stops the workers, the timer thread and the swap threads once no VM is live; waits for them to exit.
  public func stop() {
    withState(waiting: { state in state.live > 0 ? .wait(.stateChanged, until: nil) : .done(()) })
    stopThreads()
  }

  /// Tells every thread to exit and waits until they have.
  private func stopThreads() {
    withState { state in
      state.stopping = true
      state.broadcast(.workAvailable)
      state.broadcast(.timerThreadWake)
      state.broadcast(.swapWork)
    }
    withState(waiting: { state in
      state.started && state.runningThreads > 0 ? .wait(.stateChanged, until: nil) : .done(())
    })
  }

  /// Stops every VM where it is and writes each one that has run to its swap file, for a daemon restart;
  /// then stops the threads. Running VMs are preempted; no slice starts and nothing is admitted meanwhile.
  /// A VM whose swap-out fails is retried up to `attempts` times. Returns the ids of live VMs left without a
  /// current swap image (they restart from their last committed one, or from their image). Needs swapping.
  /// Gives up on VMs still being written, loaded or run after `limit` (they are among those returned, and
  /// `log` names where each was).
  public func suspendAll(
    attempts: Int = 3, within limit: Duration = .seconds(120), log: (String) -> Void = { _ in }
  ) -> [UInt64] {
    let deadline = monotonicNanoseconds() &+ nanoseconds(limit)
    var tries: [UInt64: Int] = [:]
    let unsaved: [UInt64] = withState(waiting: { state in
      if !state.suspending {
        state.suspending = true
        for slot in state.slots { slot?.vm.control?.preempt() }
      }
      var busy = false
      if monotonicNanoseconds() >= deadline {
        log("gave up waiting after \(limit) for VMs to be written out: \(state.liveSummary().joined(separator: "; "))")
      } else {
        for vm in state.registry.values where vm.state != .finished {
          switch vm.residency {
          case .absent: continue
          case .loading, .unloading: busy = true
          case .resident:
            if vm.state == .running {
              busy = true
            } else if tries[vm.id, default: 0] < attempts {
              tries[vm.id, default: 0] += 1
              state.gatekeeper?.beginEviction(vm)
              state.queueSwapJob(.evict(vm))
              busy = true
            }
          }
        }
      }
      guard !busy else {
        for slot in state.slots { slot?.vm.control?.preempt() }  // a kick that came before KVM_RUN is not lost
        return .wait(.stateChanged, until: min(deadline, monotonicNanoseconds() &+ 50_000_000))
      }
      return .done(state.registry.values.filter { $0.state != .finished && $0.residency != .absent }.map(\.id).sorted())
    })
    stopThreads()
    return unsaved
  }

  /// A worker, timer or swap thread is exiting.
  func threadExited() {
    withState { state in
      state.runningThreads -= 1
      state.broadcast(.stateChanged)
    }
  }
}
