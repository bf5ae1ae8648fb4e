// Scheduler.swift: M:N scheduling of many single-vCPU VMs over a few worker threads, with quantum
// preemption, one timer heap for every deadline, fair shares by virtual runtime with a bounded credit for
// VMs waking from idle (Denali's reward), and,
// with a memory budget, the gatekeeper admitting VMs into memory and swap threads moving whole VMs to disk.
import DequeModule
import Foundation
import HeapModule
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
public final class Scheduler: @unchecked Sendable {
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
    /// Threads doing swap I/O.
    public var threads: Int
    /// Most swap-outs made durable by one sync.
    public var batchLimit: Int
    /// Where swap failures are reported (one line each).
    public var log: @Sendable (String) -> Void

    /// The default budget: half of the machine's physical memory.
    public static var defaultMemoryBudget: UInt64 {
      let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
      return pages > 0 && pageSize > 0 ? UInt64(pages) * UInt64(pageSize) / 2 : 1 << 30
    }

    /// Settings for a budget of `memoryBudget` bytes with swap files in `store`.
    public init(
      memoryBudget: UInt64, store: SwapStore, system: KVMSystem, threads: Int = 2, batchLimit: Int = 32,
      log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
      self.memoryBudget = memoryBudget
      self.store = store
      self.system = system
      self.threads = max(1, threads)
      self.batchLimit = max(1, batchLimit)
      self.log = log
    }
  }

  /// A unit of swap-thread work.
  private enum SwapJob {
    /// Boot or swap in this admitted VM.
    case load(ScheduledVM)
    /// Swap this VM out.
    case evict(ScheduledVM)
    /// Delete a finished VM's swap file.
    case discard(SwapFile)
  }

  /// The configuration in force.
  public let configuration: Configuration
  private let quantumNanoseconds: UInt64
  private let lock = MonotonicCondition(conditions: 4)
  private static let workAvailable = 0, preemptorWake = 1, stateChanged = 2, swapWork = 3
  /// With more pending deadlines than this, the timer thread batches: it sleeps until the earliest deadline
  /// plus `timerSlack`, and one wake-up serves every VM due by then (Denali's batched timer interrupts).
  static let batchingThreshold = 100
  /// The most a timer fires late because of batching, in nanoseconds.
  static let timerSlack: UInt64 = 1_000_000

  /// How far below the virtual clock a VM queued after a wait may start: the most CPU time sleeping can
  /// earn it ahead of VMs that kept running, nanoseconds.
  private let sleeperCredit: UInt64

  // Guarded by `lock`.
  private var runQueue = RunQueue()
  private var timers = TimerQueue()
  /// The virtual runtime of the latest slice to start: never decreases.
  private var virtualClock: UInt64 = 0
  /// Per worker: the VM it runs and when that slice's quantum ends.
  private var slots: [(vm: ScheduledVM, sliceEnd: UInt64)?]
  private var live = 0
  private var reports: [VMReport] = []
  private var stopping = false
  /// Set by `suspendAll`: no slice starts and nothing is admitted; every VM is being written out.
  private var suspending = false
  /// When the timer thread will wake by itself (UInt64.max: not before it is signalled). Workers signal
  /// it only for an earlier deadline, so a slice start usually costs no extra wake-up.
  private var timerThreadWakesAt: UInt64 = 0
  private var runningThreads = 0
  private var totalSliceCPU: UInt64 = 0
  private var totalGuestTime: UInt64 = 0
  private var started = false
  private var gatekeeper: Gatekeeper?
  /// Every submitted, unfinished VM by id. An idle VM with no deadline is in no queue and no timer, and
  /// the interrupt listener holds it weakly: this keeps it alive until an interrupt wakes it.
  private var registry: [UInt64: ScheduledVM] = [:]
  private var swapJobs = Deque<SwapJob>()
  private var swapTotals = SwapStatistics()
  /// How long admission may wait before the timer thread asks the gatekeeper again (victims may have
  /// become evictable, or a failed swap-out's backoff may have ended).
  private static let admissionRetry: UInt64 = 20_000_000

  /// A scheduler; call `start()` before or after submitting VMs.
  public init(configuration: Configuration = Configuration()) {
    self.configuration = configuration
    let (seconds, attoseconds) = configuration.quantum.components
    quantumNanoseconds = max(100_000, UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds)) / 1_000_000_000)
    sleeperCredit = quantumNanoseconds / 2
    slots = Array(repeating: nil, count: configuration.workers)
    gatekeeper = configuration.swapping.map { Gatekeeper(budget: $0.memoryBudget) }
  }

  /// Starts the worker threads and the preemptor.
  public func start() {
    let alreadyStarted = lock.withLock {
      defer { started = true }
      if !started { runningThreads = configuration.workers + 1 + (configuration.swapping?.threads ?? 0) }
      return started
    }
    guard !alreadyStarted else { return }
    for index in 0..<configuration.workers {
      let thread = Thread { [self] in workerLoop(index) }
      thread.name = "denali-worker-\(index)"
      thread.stackSize = 1 << 20
      thread.start()
    }
    let preemptor = Thread { [self] in preemptorLoop() }
    preemptor.name = "denali-preemptor"
    preemptor.start()
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
  public func submit(_ guest: GuestVM, name: String) {
    let vm = ScheduledVM(guest: guest, name: name)
    guest.interrupts.setListener { [weak self, weak vm] in
      if let self, let vm { self.interruptRaised(vm) }
    }
    lock.withLock {
      live += 1
      registry[vm.id] = vm
      vm.virtualRuntime = virtualClock
      if let timeout = guest.configuration.timeout {
        vm.hasTimeoutTimer = true
        addTimer(at: monotonicNanoseconds() &+ nanoseconds(timeout), .timeout(vm))
      }
      if vm.residency == .resident {
        gatekeeper?.chargeResident(vm)
        runQueue.insert(vm)
        lock.signal(Self.workAvailable)
      } else if let idle = guest.restoredIdle, guest.interrupts.current == 0 {
        // Like a VM evicted while idle: its timer or an interrupt (the listener is set) wakes it.
        enterIdle(vm, until: idle.deadline)
      } else {
        makeRunnableElsewhere(vm)
      }
    }
  }

  /// The state and accounting of every live VM (accounting as of each VM's last slice).
  public func snapshot() -> [VMStatus] {
    lock.withLock {
      var statuses: [VMStatus] = []
      statuses.reserveCapacity(live)
      for vm in registry.values where vm.state != .finished { statuses.append(status(of: vm)) }
      return statuses.sorted { $0.id < $1.id }
    }
  }

  /// The state and accounting of live VM `id`, nil when there is none.
  public func status(id: UInt64) -> VMStatus? {
    lock.withLock {
      guard let vm = registry[id], vm.state != .finished else { return nil }
      return status(of: vm)
    }
  }

  private func status(of vm: ScheduledVM) -> VMStatus {
    VMStatus(id: vm.id, name: vm.name, phase: phase(of: vm), memorySize: vm.memorySize, accounting: vm.accounting)
  }

  private func phase(of vm: ScheduledVM) -> VMStatus.Phase {
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

  /// Stops live VM `id` as if its timeout had passed. A VM that is not in memory ends at once, without
  /// being swapped in; others end at their next chance. Returns false when there is no such live VM.
  @discardableResult
  public func expire(id: UInt64) -> Bool {
    lock.withLock {
      guard let vm = registry[id], vm.state != .finished else { return false }
      timeoutPassed(vm)
      return true
    }
  }

  /// Stops every live VM as `expire(id:)` does.
  public func expireAll() {
    lock.withLock {
      for vm in registry.values where vm.state != .finished { timeoutPassed(vm) }
    }
  }

  /// A VM's timeout passed, or it was stopped (lock held).
  private func timeoutPassed(_ vm: ScheduledVM) {
    vm.control?.markExpired()
    if vm.residency == .absent && (vm.state == .idle || vm.state == .runnable) {
      finishAbsent(vm, outcome: .timedOut)
    } else if vm.state == .idle {
      wake(vm)
    }
  }

  /// Ends a VM that is not in memory (lock held): no KVM objects to release, its swap file is deleted on a
  /// swap thread.
  private func finishAbsent(_ vm: ScheduledVM, outcome: VMOutcome) {
    guard let guest = vm.guest else { return }
    leaveIdle(vm)
    markFinished(vm)
    registry[vm.id] = nil
    vm.guest = nil
    guest.interrupts.setListener(nil)
    if let file = guest.swapFile { queueSwapJob(.discard(file)) }
    record(VMReport(id: vm.id, name: vm.name, outcome: outcome, accounting: vm.accounting))
    live -= 1
    lock.broadcast(Self.stateChanged)
  }

  /// Swap totals so far.
  public var swapStatistics: SwapStatistics { lock.withLock { swapTotals } }

  /// VMs in memory (resident, or being loaded or swapped out) and VMs waiting for admission; nil without a
  /// memory budget.
  public var memoryOccupancy: (inMemory: Int, chargedBytes: UInt64, waiting: Int)? {
    lock.withLock { gatekeeper.map { ($0.chargedCount, $0.chargedBytes, $0.waitingCount) } }
  }

  /// Blocks until every submitted VM has finished, then returns their reports in completion order.
  public func waitForAll() -> [VMReport] {
    lock.withLock {
      while live > 0 { lock.wait(Self.stateChanged, untilMonotonicNanoseconds: nil) }
      return reports
    }
  }

  /// Like `waitForAll()`, but gives up after `limit`: then throws, naming the VMs still live and where each is.
  public func waitForAll(within limit: Duration) throws(SchedulerWaitTimeout) -> [VMReport] {
    let deadline = monotonicNanoseconds() &+ nanoseconds(limit)
    return try lock.withLock { () throws(SchedulerWaitTimeout) -> [VMReport] in
      while live > 0 {
        if monotonicNanoseconds() >= deadline {
          throw SchedulerWaitTimeout(waitedFor: "every VM to finish", limit: limit, live: liveSummary())
        }
        lock.wait(Self.stateChanged, untilMonotonicNanoseconds: deadline)
      }
      return reports
    }
  }

  /// The live VMs, at most 20 of them, as `id name phase` (lock held): what a timed-out wait reports.
  private func liveSummary() -> [String] {
    registry.values.filter { $0.state != .finished }.sorted { $0.id < $1.id }.prefix(20).map {
      "vm \($0.id) \($0.name): \(phase(of: $0).rawValue)\($0.control?.hasExpired == true ? ", stopped" : "")"
    }
  }

  /// Number of VMs submitted and not yet finished.
  public var liveCount: Int { lock.withLock { live } }

  /// Running totals over every slice so far, in nanoseconds: the worker CPU time of the slices, and the
  /// wall time of those slices spent inside KVM_RUN (the guests' own work). Their difference is the
  /// daemon's own per-slice work: exit handling, hypercalls and accounting.
  public var sliceTotals: (cpu: UInt64, guest: UInt64) { lock.withLock { (totalSliceCPU, totalGuestTime) } }

  /// Stops the workers and the preemptor once no VM is live; waits for them to exit.
  public func stop() {
    lock.withLock {
      while live > 0 { lock.wait(Self.stateChanged, untilMonotonicNanoseconds: nil) }
      stopThreads()
    }
  }

  /// Tells every thread to exit and waits until they have (lock held).
  private func stopThreads() {
    stopping = true
    lock.broadcast(Self.workAvailable)
    lock.broadcast(Self.preemptorWake)
    lock.broadcast(Self.swapWork)
    if started {
      while runningThreads > 0 { lock.wait(Self.stateChanged, untilMonotonicNanoseconds: nil) }
    }
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
    var unsaved: [UInt64] = []
    let deadline = monotonicNanoseconds() &+ nanoseconds(limit)
    lock.withLock {
      suspending = true
      for slot in slots { slot?.vm.control?.preempt() }
      var tries: [UInt64: Int] = [:]
      while true {
        if monotonicNanoseconds() >= deadline {
          log("gave up waiting after \(limit) for VMs to be written out: \(liveSummary().joined(separator: "; "))")
          break
        }
        var busy = false
        for vm in registry.values where vm.state != .finished {
          switch vm.residency {
          case .absent: continue
          case .loading, .unloading: busy = true
          case .resident:
            if vm.state == .running {
              busy = true
            } else if tries[vm.id, default: 0] < attempts {
              tries[vm.id, default: 0] += 1
              gatekeeper?.beginEviction(vm)
              queueSwapJob(.evict(vm))
              busy = true
            }
          }
        }
        if !busy { break }
        for slot in slots { slot?.vm.control?.preempt() }  // a kick that came before KVM_RUN is not lost
        lock.wait(Self.stateChanged, untilMonotonicNanoseconds: min(deadline, monotonicNanoseconds() &+ 50_000_000))
      }
      unsaved = registry.values.filter { $0.state != .finished && $0.residency != .absent }.map(\.id).sorted()
      stopThreads()
    }
    return unsaved
  }

  // MARK: Workers

  private func workerLoop(_ index: Int) {
    while let vm = nextSlice(worker: index) {
      if let report = runSlice(of: vm, worker: index) {
        // The GuestVM was released when runSlice returned: "finished" means its resources are gone.
        retire(report)
      }
    }
    threadExited()
  }

  /// Runs one slice of `vm` on this worker and records it. Returns the VM's report when it finished;
  /// its last reference (the local `guest`) is dropped as this function returns.
  private func runSlice(of vm: ScheduledVM, worker: Int) -> VMReport? {
    guard let guest = lock.withLock({ vm.guest }) else { return nil }
    let cpuBefore = threadCPUNanoseconds()
    let waitBefore = guest.disk.waitNanoseconds
    let guestBefore = guest.statistics.guestNanoseconds
    let end: SliceEnd
    do {
      end = try guest.runSlice()
    } catch {
      end = .finished(.faulted(.unexpectedExit("host error: \(error)", rip: 0)))
    }
    let cpu = threadCPUNanoseconds() &- cpuBefore
    let deviceWait = guest.disk.waitNanoseconds &- waitBefore
    // Read outside the scheduler's lock: a port takes its own lock and then the scheduler's to raise an
    // interrupt, so the reverse order would deadlock.
    let network = guest.network.port?.counters
    return finishSlice(
      vm, guest: guest, worker: worker, end: end, cpu: cpu, deviceWait: deviceWait,
      guestTime: guest.statistics.guestNanoseconds &- guestBefore, network: network)
  }

  /// Blocks until a VM is runnable (or the scheduler stops), then marks it running on `worker`.
  private func nextSlice(worker: Int) -> ScheduledVM? {
    lock.withLock {
      while true {
        let now = monotonicNanoseconds()
        fireTimers(now: now)
        if !suspending, let vm = runQueue.popFirst() {
          guard vm.guest != nil, vm.residency == .resident else { continue }
          vm.state = .running
          vm.slicesSinceAdmission += 1
          virtualClock = max(virtualClock, vm.virtualRuntime)
          vm.accounting.timesScheduled += 1
          if let deadline = vm.wokenAtDeadline {
            vm.accounting.recordWakeup(lateness: now > deadline ? now - deadline : 0)
            vm.wokenAtDeadline = nil
          }
          slots[worker] = (vm, now &+ quantumNanoseconds)
          wakeTimerThread(by: now &+ quantumNanoseconds)
          return vm
        }
        if stopping { return nil }
        // The timer thread fires deadlines and signals; workers need no deadline of their own.
        lock.wait(Self.workAvailable, untilMonotonicNanoseconds: nil)
      }
    }
  }

  /// Records the end of a slice and puts the VM where its result says; returns its report if it finished.
  private func finishSlice(
    _ vm: ScheduledVM, guest: GuestVM, worker: Int, end: SliceEnd, cpu: UInt64, deviceWait: UInt64, guestTime: UInt64,
    network: NetworkCounters?
  ) -> VMReport? {
    lock.withLock {
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
      if vm.accounting.firstHypercallAt == nil { vm.accounting.firstHypercallAt = guest.statistics.firstHypercallMonotonic }
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

  /// Announces a finished VM whose resources are released.
  private func retire(_ report: VMReport) {
    configuration.onFinish?(report)
    lock.withLock {
      if configuration.onFinish == nil { reports.append(report) }
      live -= 1
      lock.broadcast(Self.stateChanged)
    }
  }

  /// Keeps or hands over the report of a VM that finished while not in memory (lock held).
  private func record(_ report: VMReport) {
    if let onFinish = configuration.onFinish { onFinish(report) } else { reports.append(report) }
  }

  /// Makes an idle VM runnable when a device raises one of its interrupts.
  private func interruptRaised(_ vm: ScheduledVM) {
    lock.withLock {
      if vm.state != .finished, vm.control?.hasExpired == true {
        timeoutPassed(vm)  // stopped through its VMControl: ends at once if swapped out, else at its next slice
        return
      }
      guard vm.state == .idle else { return }
      wake(vm)
    }
  }

  /// Puts a VM into an idle that ends at `deadline` (nil: only an interrupt ends it) (lock held).
  private func enterIdle(_ vm: ScheduledVM, until deadline: UInt64?) {
    vm.state = .idle
    vm.idleGeneration &+= 1
    if let deadline {
      vm.hasWakeTimer = true
      addTimer(at: deadline, .wake(vm, generation: vm.idleGeneration))
    }
  }

  /// Ends an idle VM's idle before its timer fired (lock held): its timer entry is stale from now on.
  private func leaveIdle(_ vm: ScheduledVM) {
    guard vm.state == .idle, vm.hasWakeTimer else { return }
    vm.hasWakeTimer = false
    timers.noteStale()
  }

  /// Marks a VM finished (lock held): its run-timeout entry, if still pending, is stale from now on.
  private func markFinished(_ vm: ScheduledVM) {
    vm.state = .finished
    runQueue.remove(vm)
    if vm.hasTimeoutTimer {
      vm.hasTimeoutTimer = false
      timers.noteStale()
    }
  }

  /// Makes an idle VM runnable (lock held): queued at once when it is resident, else through admission.
  private func wake(_ vm: ScheduledVM) {
    leaveIdle(vm)
    vm.state = .runnable
    if vm.residency == .resident {
      queueResident(vm)
    } else {
      makeRunnableElsewhere(vm)
    }
  }

  /// A runnable VM that is not resident (lock held): waits for admission unless a swap-out of it is under
  /// way (its completion queues it) or it is being loaded (which puts it in a run queue).
  private func makeRunnableElsewhere(_ vm: ScheduledVM) {
    guard vm.residency == .absent else { return }
    gatekeeper?.requestAdmission(vm)
    admitWaitingVMs()
  }

  // MARK: Gatekeeper and swap threads (lock held unless noted)

  /// Asks the gatekeeper what to load and evict, and queues that work for the swap threads.
  private func admitWaitingVMs() {
    guard gatekeeper != nil, !stopping, !suspending else { return }
    let decisions = gatekeeper?.decide(now: monotonicNanoseconds(), runQueue: &runQueue) ?? []
    for decision in decisions {
      switch decision {
      case .load(let vm): queueSwapJob(.load(vm))
      case .evict(let vm): queueSwapJob(.evict(vm))
      }
    }
  }

  private func queueSwapJob(_ job: SwapJob) {
    swapJobs.append(job)
    lock.signal(Self.swapWork)
  }

  /// A swap thread: takes a batch of evictions (made durable by one sync) or one load or discard at a time.
  private func swapLoop() {
    while let batch = nextSwapBatch() {
      switch batch {
      case .loads(let vm): load(vm)
      case .evictions(let vms): evict(vms)
      case .discard(let file): file.remove()
      }
    }
    threadExited()
  }

  private enum SwapBatch {
    case loads(ScheduledVM)
    case evictions([ScheduledVM])
    case discard(SwapFile)
  }

  /// Blocks until there is swap work (nil when the scheduler stops).
  private func nextSwapBatch() -> SwapBatch? {
    lock.withLock {
      while true {
        if let job = swapJobs.popFirst() {
          switch job {
          case .load(let vm): return .loads(vm)
          case .discard(let file): return .discard(file)
          case .evict(let first):
            var vms = [first]
            let limit = configuration.swapping?.batchLimit ?? 1
            while vms.count < limit, case .evict(let next)? = swapJobs.first {
              swapJobs.removeFirst()
              vms.append(next)
            }
            return .evictions(vms)
          }
        }
        if stopping { return nil }
        lock.wait(Self.swapWork, untilMonotonicNanoseconds: nil)
      }
    }
  }

  /// Boots or swaps in an admitted VM (swap thread, lock not held).
  private func load(_ vm: ScheduledVM) {
    guard let swapping = configuration.swapping, let guest = lock.withLock({ vm.guest }) else { return }
    let started = monotonicNanoseconds()
    var failure: String?
    var pagesRead = 0
    let booted = guest.hasBooted
    if booted {
      do throws(SwapError) { pagesRead = try guest.swapIn(system: swapping.system) } catch { failure = error.description }
    } else {
      do throws(VMSetupError) { try guest.boot(system: swapping.system, swappable: true) } catch {
        failure = error.description
      }
    }
    let elapsed = monotonicNanoseconds() &- started
    let report: VMReport? = lock.withLock {
      if let failure {
        swapping.log("vm \(vm.id): \(booted ? "swap-in" : "boot") failed: \(failure)")
        swapTotals.loadFailures += 1
        gatekeeper?.loadFailed(vm)
        vm.residency = .absent
        markFinished(vm)
        registry[vm.id] = nil
        vm.guest = nil
        guest.interrupts.setListener(nil)
        admitWaitingVMs()
        return VMReport(
          id: vm.id, name: vm.name, outcome: .faulted(.unexpectedExit("\(booted ? "swap-in" : "boot") failed: \(failure)", rip: 0)),
          accounting: vm.accounting)
      }
      if booted {
        swapTotals.swapIns += 1
        swapTotals.pagesRead += UInt64(pagesRead)
        vm.accounting.swapIns += 1
      } else {
        swapTotals.boots += 1
      }
      swapTotals.swapInNanoseconds &+= elapsed
      vm.residency = .resident
      vm.slicesSinceAdmission = 0
      if vm.state == .runnable {
        queueResident(vm)
      } else if vm.state == .idle {
        gatekeeper?.noteIdle(vm)
      }
      return nil
    }
    if let report {
      if let file = guest.swapFile { file.remove() }
      retire(report)
    }
  }

  /// Writes a batch of VMs to their swap files, syncs once, and releases those that committed (swap thread,
  /// lock not held). A VM whose swap-out fails stays resident and is retried later.
  private func evict(_ vms: [ScheduledVM]) {
    guard let swapping = configuration.swapping else { return }
    let started = monotonicNanoseconds()
    var batch: [(vm: GuestVM, file: SwapFile)] = []
    var records: [ObjectIdentifier: ScheduledVM] = [:]
    for vm in vms {
      guard let guest = lock.withLock({ vm.guest }) else { continue }
      let file = guest.swapFile ?? SwapFile(path: swapping.store.path(forVM: vm.id), vmID: vm.id, memorySize: vm.memorySize)
      batch.append((guest, file))
      records[ObjectIdentifier(guest)] = vm
    }
    let results = GuestVM.swapOut(batch, store: swapping.store)
    let elapsed = monotonicNanoseconds() &- started
    lock.withLock {
      if !batch.isEmpty { swapTotals.syncs += 1 }
      swapTotals.swapOutNanoseconds &+= elapsed
      let now = monotonicNanoseconds()
      for outcome in results {
        guard let vm = records[ObjectIdentifier(outcome.vm)] else { continue }
        switch outcome.result {
        case .success(let written):
          swapTotals.swapOuts += 1
          swapTotals.pagesWritten += UInt64(written.pages)
          swapTotals.bytesWritten += written.bytes
          vm.accounting.swapOuts += 1
          gatekeeper?.evicted(vm)
          if vm.state == .runnable { gatekeeper?.requestAdmission(vm) }
        case .failure(let error):
          evictionFailed(vm, error, now: now, log: swapping.log)
        }
      }
      admitWaitingVMs()
      lock.broadcast(Self.stateChanged)
    }
  }

  /// A swap-out failed (lock held): the VM stays resident, runs on, and is not picked again for a while.
  private func evictionFailed(_ vm: ScheduledVM, _ error: SwapError, now: UInt64, log: (String) -> Void) {
    log("vm \(vm.id): swap-out failed, the VM stays in memory and is retried later: \(error)")
    swapTotals.swapOutFailures += 1
    vm.accounting.swapFailures += 1
    vm.swapRetryAfter = now &+ 1_000_000_000
    gatekeeper?.evictionFailed(vm)
    if vm.state == .runnable { queueResident(vm) }
  }

  /// Puts a runnable resident VM in the run queue, no lower than the virtual clock minus the sleeper
  /// credit: a VM that waited (idle, or out of memory) runs before those that used up their quantum, and one
  /// that waited long does not bring back a debt of CPU time to collect from the others.
  private func queueResident(_ vm: ScheduledVM) {
    let floor = virtualClock > sleeperCredit ? virtualClock - sleeperCredit : 0
    vm.virtualRuntime = max(vm.virtualRuntime, floor)
    runQueue.insert(vm)
    lock.signal(Self.workAvailable)
  }

  // MARK: Timers (lock held)

  private func addTimer(at deadline: UInt64, _ kind: TimerEntry.Kind) {
    timers.add(at: deadline, kind)
    wakeTimerThread(by: deadline)
  }

  /// Timer entries stored, live or stale (for tests).
  var timerEntriesStored: Int { lock.withLock { timers.storedEntries } }

  /// Signals the timer thread if it would otherwise sleep past `deadline`.
  private func wakeTimerThread(by deadline: UInt64) {
    guard deadline < timerThreadWakesAt else { return }
    timerThreadWakesAt = 0
    lock.signal(Self.preemptorWake)
  }

  private func fireTimers(now: UInt64) {
    while let entry = timers.popDue(now: now) {
      switch entry.kind {
      case .wake(let vm, _):
        vm.hasWakeTimer = false
        vm.guest?.idleTimeoutPassed()
        vm.wokenAtDeadline = entry.deadline
        wake(vm)
      case .timeout(let vm):
        vm.hasTimeoutTimer = false
        timeoutPassed(vm)
      }
    }
  }

  // MARK: Preemption

  /// The timer thread: fires due timers even while every worker is busy, and kicks a VM whose quantum has
  /// ended when another VM is waiting. A kicked slot is kicked again one quantum later if it has not ended
  /// by then, so no kick can be lost for good.
  private func preemptorLoop() {
    lock.withLock {
      while !stopping {
        let now = monotonicNanoseconds()
        let queuedBefore = runQueue.count
        fireTimers(now: now)
        if runQueue.count > queuedBefore { lock.broadcast(Self.workAvailable) }
        var earliest = timers.earliestDeadline.map {
          $0 &+ (timers.liveCount > Self.batchingThreshold ? Self.timerSlack : 0)
        }
        if let gatekeeper, gatekeeper.waitingCount > 0 {
          admitWaitingVMs()
          earliest = min(earliest ?? .max, now &+ Self.admissionRetry)
        }
        let othersWaiting = !runQueue.isEmpty
        for index in slots.indices {
          guard let slot = slots[index] else { continue }
          var sliceEnd = slot.sliceEnd
          if sliceEnd <= now {
            if othersWaiting { slot.vm.control?.preempt() }
            sliceEnd = now &+ quantumNanoseconds
            slots[index] = (slot.vm, sliceEnd)
          }
          earliest = min(earliest ?? .max, sliceEnd)
        }
        timerThreadWakesAt = earliest ?? .max
        lock.wait(Self.preemptorWake, untilMonotonicNanoseconds: earliest)
        timerThreadWakesAt = 0
      }
    }
    threadExited()
  }

  private func threadExited() {
    lock.withLock {
      runningThreads -= 1
      lock.broadcast(Self.stateChanged)
    }
  }
}
