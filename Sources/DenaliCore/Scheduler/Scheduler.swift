// Scheduler.swift: M:N scheduling of many single-vCPU VMs over a few worker threads, with quantum
// preemption, one timer heap for every deadline, and priority for VMs waking from idle (Denali's reward).
import DequeModule
import Foundation
import HeapModule

/// Runs VMs on a pool of worker threads until each finishes.
///
/// Round robin over runnable VMs; a VM runs until it idles, yields, finishes, or its quantum expires
/// (it is then kicked out of KVM_RUN). An idling VM leaves the queues until its deadline or an interrupt,
/// and when it wakes it goes to the front lane: it runs before every VM that merely used up its quantum.
public final class Scheduler: @unchecked Sendable {
  /// How the scheduler runs.
  public struct Configuration: Sendable {
    /// Worker threads (default: one per core).
    public var workers: Int
    /// Longest slice a VM runs while others wait.
    public var quantum: Duration

    /// A configuration with `workers` threads and a `quantum`.
    public init(workers: Int = ProcessInfo.processInfo.activeProcessorCount, quantum: Duration = .milliseconds(10)) {
      self.workers = max(1, workers)
      self.quantum = quantum
    }
  }

  /// The configuration in force.
  public let configuration: Configuration
  private let quantumNanoseconds: UInt64
  private let lock = MonotonicCondition(conditions: 3)
  private static let workAvailable = 0, preemptorWake = 1, stateChanged = 2
  /// With more pending deadlines than this, the timer thread batches: it sleeps until the earliest deadline
  /// plus `timerSlack`, and one wake-up serves every VM due by then (Denali's batched timer interrupts).
  static let batchingThreshold = 100
  /// The most a timer fires late because of batching, in nanoseconds.
  static let timerSlack: UInt64 = 1_000_000

  // Guarded by `lock`.
  private var wokenQueue = Deque<ScheduledVM>()
  private var runQueue = Deque<ScheduledVM>()
  private var timers = Heap<TimerEntry>()
  private var nextSequence: UInt64 = 0
  /// Per worker: the VM it runs and when that slice's quantum ends.
  private var slots: [(vm: ScheduledVM, sliceEnd: UInt64)?]
  private var live = 0
  /// Every submitted, unfinished VM. An idle VM with no deadline is in no queue and no timer, and the
  /// interrupt listener holds it weakly: this keeps it alive until an interrupt wakes it.
  private var liveVMs: [ObjectIdentifier: ScheduledVM] = [:]
  private var reports: [VMReport] = []
  private var stopping = false
  /// When the timer thread will wake by itself (UInt64.max: not before it is signalled). Workers signal
  /// it only for an earlier deadline, so a slice start usually costs no extra wake-up.
  private var timerThreadWakesAt: UInt64 = 0
  private var runningThreads = 0
  private var totalSliceCPU: UInt64 = 0
  private var totalGuestTime: UInt64 = 0
  private var started = false

  /// A scheduler; call `start()` before or after submitting VMs.
  public init(configuration: Configuration = Configuration()) {
    self.configuration = configuration
    let (seconds, attoseconds) = configuration.quantum.components
    quantumNanoseconds = max(100_000, UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds)) / 1_000_000_000)
    slots = Array(repeating: nil, count: configuration.workers)
  }

  /// Starts the worker threads and the preemptor.
  public func start() {
    let alreadyStarted = lock.withLock {
      defer { started = true }
      if !started { runningThreads = configuration.workers + 1 }
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
  }

  /// Queues `guest` to run; `name` appears in its report. Its configured timeout starts now.
  public func submit(_ guest: GuestVM, name: String) {
    let vm = ScheduledVM(guest: guest, name: name)
    guest.interrupts.setListener { [weak self, weak vm] in
      if let self, let vm { self.interruptRaised(vm) }
    }
    lock.withLock {
      live += 1
      liveVMs[ObjectIdentifier(vm)] = vm
      if let timeout = guest.configuration.timeout {
        addTimer(at: monotonicNanoseconds() &+ nanoseconds(timeout), .timeout(vm))
      }
      runQueue.append(vm)
      lock.signal(Self.workAvailable)
    }
  }

  /// Blocks until every submitted VM has finished, then returns their reports in completion order.
  public func waitForAll() -> [VMReport] {
    lock.withLock {
      while live > 0 { lock.wait(Self.stateChanged, untilMonotonicNanoseconds: nil) }
      return reports
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
      stopping = true
      lock.broadcast(Self.workAvailable)
      lock.broadcast(Self.preemptorWake)
      if started {
        while runningThreads > 0 { lock.wait(Self.stateChanged, untilMonotonicNanoseconds: nil) }
      }
    }
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
    let guestBefore = guest.statistics.guestNanoseconds
    let end: SliceEnd
    do {
      end = try guest.runSlice()
    } catch {
      end = .finished(.faulted(.unexpectedExit("host error: \(error)", rip: 0)))
    }
    let cpu = threadCPUNanoseconds() &- cpuBefore
    return finishSlice(
      vm, guest: guest, worker: worker, end: end, cpu: cpu, guestTime: guest.statistics.guestNanoseconds &- guestBefore)
  }

  /// Blocks until a VM is runnable (or the scheduler stops), then marks it running on `worker`.
  private func nextSlice(worker: Int) -> ScheduledVM? {
    lock.withLock {
      while true {
        let now = monotonicNanoseconds()
        fireTimers(now: now)
        if let vm = wokenQueue.popFirst() ?? runQueue.popFirst() {
          guard vm.guest != nil else { continue }
          vm.state = .running
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
    _ vm: ScheduledVM, guest: GuestVM, worker: Int, end: SliceEnd, cpu: UInt64, guestTime: UInt64
  ) -> VMReport? {
    lock.withLock {
      slots[worker] = nil
      vm.accounting.cpuNanoseconds += cpu
      vm.accounting.guestNanoseconds += guestTime
      totalSliceCPU &+= cpu
      totalGuestTime &+= guestTime
      switch end {
      case .finished(let outcome):
        vm.state = .finished
        liveVMs[ObjectIdentifier(vm)] = nil
        vm.accounting.exits = guest.statistics.exits
        vm.accounting.hypercalls = guest.statistics.hypercalls
        vm.accounting.idles = guest.statistics.idles
        vm.accounting.network = guest.network.port?.counters
        vm.guest = nil
        guest.interrupts.setListener(nil)
        return VMReport(id: vm.id, name: vm.name, outcome: outcome, accounting: vm.accounting)
      case .yielded, .preempted:
        if end == .preempted { vm.accounting.preemptions += 1 }
        vm.state = .runnable
        runQueue.append(vm)
        lock.signal(Self.workAvailable)
      case .idle(let deadline):
        if guest.interrupts.current != 0 {
          // An interrupt arrived while it was deciding to idle: it stays runnable, with the reward.
          vm.state = .runnable
          wokenQueue.append(vm)
          lock.signal(Self.workAvailable)
        } else {
          vm.state = .idle
          vm.idleGeneration &+= 1
          if let deadline { addTimer(at: deadline, .wake(vm, generation: vm.idleGeneration)) }
        }
      }
      return nil
    }
  }

  /// Announces a finished VM whose resources are released.
  private func retire(_ report: VMReport) {
    lock.withLock {
      reports.append(report)
      live -= 1
      lock.broadcast(Self.stateChanged)
    }
  }

  /// Makes an idle VM runnable when a device raises one of its interrupts.
  private func interruptRaised(_ vm: ScheduledVM) {
    lock.withLock {
      guard vm.state == .idle else { return }
      vm.state = .runnable
      wokenQueue.append(vm)
      lock.signal(Self.workAvailable)
    }
  }

  // MARK: Timers (lock held)

  private func addTimer(at deadline: UInt64, _ kind: TimerEntry.Kind) {
    nextSequence &+= 1
    timers.insert(TimerEntry(deadline: deadline, sequence: nextSequence, kind: kind))
    wakeTimerThread(by: deadline)
  }

  /// Signals the timer thread if it would otherwise sleep past `deadline`.
  private func wakeTimerThread(by deadline: UInt64) {
    guard deadline < timerThreadWakesAt else { return }
    timerThreadWakesAt = 0
    lock.signal(Self.preemptorWake)
  }

  private func fireTimers(now: UInt64) {
    while let first = timers.min, first.deadline <= now {
      _ = timers.removeMin()
      switch first.kind {
      case .wake(let vm, let generation):
        guard vm.state == .idle, vm.idleGeneration == generation else { continue }
        vm.guest?.idleTimeoutPassed()
        vm.wokenAtDeadline = first.deadline
        vm.state = .runnable
        wokenQueue.append(vm)
      case .timeout(let vm):
        guard vm.state != .finished else { continue }
        vm.control?.expire()
        if vm.state == .idle {
          vm.state = .runnable
          wokenQueue.append(vm)
        }
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
        let queuedBefore = wokenQueue.count + runQueue.count
        fireTimers(now: now)
        if wokenQueue.count + runQueue.count > queuedBefore { lock.broadcast(Self.workAvailable) }
        var earliest = timers.min.map { $0.deadline &+ (timers.count > Self.batchingThreshold ? Self.timerSlack : 0) }
        let othersWaiting = !wokenQueue.isEmpty || !runQueue.isEmpty
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
