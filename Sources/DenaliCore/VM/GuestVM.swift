// GuestVM.swift: one Denali VM: its KVM objects, memory and devices, and the loop that runs it to an outcome.
import DenaliABI
import Dispatch
import KVM

/// Counters of one VM's run.
public struct VMStatistics: Sendable {
  /// Exits from KVM_RUN, by kind.
  public var exits = ExitCounters()
  /// Hypercalls dispatched.
  public var hypercalls: UInt64 = 0
  /// Idle hypercalls.
  public var idles: UInt64 = 0
  /// Wall time spent inside KVM_RUN (the guest's own work, its exits included), nanoseconds.
  public var guestNanoseconds: UInt64 = 0
  /// Thread CPU time spent inside KVM_RUN while `GuestCPUMeasurement` was on, nanoseconds (an estimate when it
  /// samples: each timed run counted as many times as the sampling interval).
  public var guestCPUNanoseconds: UInt64 = 0
  /// Saved MSRs a swap-in could not restore: not saved on this KVM, or refused by it (0 unless the image came
  /// from another kernel).
  public var msrsNotRestored: UInt64 = 0
  /// When the first hypercall exit was seen.
  public var firstHypercall: ContinuousClock.Instant?
  /// The same moment on CLOCK_MONOTONIC, in nanoseconds (comparable across threads and with the scheduler's clock).
  public var firstHypercallMonotonic: UInt64?
}

/// A Denali virtual machine with one vCPU, loaded with a guest image.
///
/// The VM is either resident (KVM objects and guest memory exist: it can run) or not: not yet loaded, or
/// swapped out to its swap file. What stays in memory while it is not resident is this object alone.
public final class GuestVM {
  /// The settings this VM was created with.
  public let configuration: VMConfiguration
  /// The VM's console device.
  public let console: ConsoleDevice
  /// The VM's virtual disk (which may have no file).
  public let disk: DiskDevice
  /// The VM's NIC (which may have no port).
  public let network: NetworkDevice
  /// The VM's pending virtual interrupts; other threads may raise bits.
  public let interrupts = VirtualInterrupts()
  /// Counters of the run so far.
  public private(set) var statistics = VMStatistics()
  /// Thread-safe controls: timeout expiry and preemption, usable from any thread.
  public let control: VMControl
  /// CLOCK_MONOTONIC when the guest's clock read zero.
  private var clockOrigin = monotonicNanoseconds()
  /// The idle hypercall the guest is waiting in, completed when it next runs.
  private var idleRequest: (address: UInt64, timeout: UInt64)?
  private let image: GuestImage
  /// The KVM objects and memory; nil while not resident.
  private var resident: ResidentMachine?
  /// The VM's swap file once it has been swapped out (it keeps the newest committed image).
  public private(set) var swapFile: SwapFile?
  /// Until the first swap-in of a VM re-created from another process's image: the idle that image
  /// recorded (the swap-in takes the pending interrupts and idle request from the file instead of this
  /// object, and ends an `.unknown` timed idle, whose deadline a version 1 image did not record).
  private var idleToRestore: SavedMachineState.Idle?
  /// The idle the guest has waited in since its last slice ended; nil when it is not idling (cleared when
  /// it next runs).
  private var idleWait: IdleWait?
  /// Draws which KVM_RUNs `GuestCPUMeasurement` times when it samples (each with probability 1/N, so the estimate
  /// is unbiased however few runs a VM makes in the measured window).
  private lazy var cpuSampleDraws = SplitMix64(seed: configuration.id)

  /// How long an idle lasts.
  private enum IdleWait {
    /// Until this CLOCK_MONOTONIC deadline, nanoseconds (or an interrupt).
    case until(UInt64)
    /// Until an interrupt.
    case forever
  }
  /// For a VM restored from another process's swap image whose guest was idling: the idle it still waits
  /// in (deadline on this process's CLOCK_MONOTONIC, nil for an interrupt only). The scheduler keeps such a
  /// VM swapped out until the deadline or an interrupt. Nil when the guest wants the CPU.
  public private(set) var restoredIdle: RestoredIdle?

  /// The idle a restored VM waits in.
  public struct RestoredIdle: Sendable, Equatable {
    /// CLOCK_MONOTONIC nanoseconds when it ends; nil: only an interrupt ends it.
    public let deadline: UInt64?
  }

  /// Creates the VM. With `resident` (the default) it is loaded at once: KVM objects, memory and vCPU are
  /// created, `image` is loaded and the Denali machine state set up; otherwise that waits for `boot`.
  public init(
    system: KVMSystem, image: GuestImage, configuration: VMConfiguration, resident: Bool = true,
    console: @escaping ConsoleDevice.Sink
  ) throws(VMSetupError) {
    try configuration.validate()
    guard image.end <= configuration.memorySize,
      configuration.memorySize - image.end >= VMConfiguration.minimumFreeMemory
    else { throw .memoryTooSmall(imageEnd: image.end, memorySize: configuration.memorySize) }
    self.configuration = configuration
    self.image = image
    self.console = ConsoleDevice(sink: console)
    self.disk = DiskDevice(file: configuration.disk)
    self.network = NetworkDevice(port: configuration.network, interrupts: interrupts)
    control = VMControl(interrupts: interrupts)
    if resident { try boot(system: system, swappable: false) }
  }

  /// Re-creates a VM from the swap file another process left (after a restart or a crash): the VM is not
  /// resident; its first swap-in restores memory, vCPU, pending interrupts and the idle request. The guest's
  /// clock continues from the saved reading from now on (time while no process ran it does not pass for the
  /// guest), and an idle it was waiting in is kept, with its deadline, in `restoredIdle`.
  /// `file` must have been recovered (`SwapFile.recover()`) and belong to `configuration.id`.
  public convenience init(
    system: KVMSystem, image: GuestImage, configuration: VMConfiguration, restoringFrom file: SwapFile,
    console: @escaping ConsoleDevice.Sink
  ) throws(VMSetupError) {
    try self.init(system: system, image: image, configuration: configuration, resident: false, console: console)
    guard file.vmID == configuration.id, file.memorySize == configuration.memorySize, file.committed != nil else {
      throw .notRestorable(path: file.path)
    }
    let state: SavedMachineState
    do throws(SwapError) {
      guard let decoded = SavedMachineState(encoded: try file.readState()) else {
        throw .corrupt(path: file.path, reason: "the machine state is malformed")
      }
      state = decoded
    } catch {
      throw .swapImage(error)
    }
    clockOrigin = monotonicNanoseconds() &- state.guestClock
    switch state.idle {
    case .unknown, .notIdle: break
    case .until(let guestClock):
      // The idle ends when the guest clock reads `guestClock`, at least now.
      restoredIdle = RestoredIdle(deadline: clockOrigin &+ max(guestClock, state.guestClock))
    case .forever: restoredIdle = RestoredIdle(deadline: nil)
    }
    swapFile = file
    idleToRestore = state.idle
  }

  deinit {
    // A stale handle must not kick the shell's next guest.
    control.attach(nil)
  }

  /// True while the VM's KVM objects and memory exist.
  public var isResident: Bool { resident != nil }

  /// The VM's guest memory while resident (for tests).
  var residentMemoryForTests: GuestMemory? { resident?.memory }

  /// The machine shell the VM runs in while resident (for tests of shell reuse).
  var machineShell: MachineShell? { resident?.shell }

  /// True once the VM has run from its image (it has been booted, and maybe swapped out since).
  public var hasBooted: Bool { resident != nil || swapFile != nil }

  /// Loads the VM for the first time: creates its KVM objects and memory, loads the image and sets up the
  /// Denali machine state. With `swappable`, KVM logs dirty pages so a swap-out writes only changed pages.
  /// The KVM objects are the VM's own, destroyed when it leaves memory (`boot(from:)` takes them from a pool).
  public func boot(system: KVMSystem, swappable: Bool) throws(VMSetupError) {
    let template = try? MemoryTemplate.template(for: image, memorySize: configuration.memorySize)
    let machine: ResidentMachine
    do {
      machine = try ResidentMachine(
        system: system, memorySize: configuration.memorySize, tracksDirtyPages: swappable, template: template)
    } catch {
      throw .kvm(error)
    }
    try boot(on: machine, template: template)
  }

  /// Loads the VM for the first time in a machine shell from `pool` (swappable: KVM logs dirty pages); the shell
  /// goes back to the pool when the VM leaves memory.
  public func boot(from pool: ShellPool) throws(VMSetupError) {
    let template = try? MemoryTemplate.template(for: image, memorySize: configuration.memorySize)
    let machine: ResidentMachine
    do {
      machine = try ResidentMachine(pool: pool, memorySize: configuration.memorySize, template: template)
    } catch {
      throw .kvm(error)
    }
    try boot(on: machine, template: template)
  }

  /// Sets `machine` up as a fresh Denali machine running the image: its memory starts as the image's shared
  /// `template` (or, without one, is written here), then gets this VM's boot information and virtual registers.
  private func boot(on machine: ResidentMachine, template: MemoryTemplate?) throws(VMSetupError) {
    let memory = machine.memory
    let vcpu = machine.vcpu
    try installImage(in: memory, template: template)
    do throws(GuestMemoryError) {
      let boot = BootInfo(memorySize: memory.size, imageEnd: image.end, arguments: configuration.arguments)
      try boot.write(to: memory)
      machine.virtualRegisters = virtualRegisters(for: machine)
      try machine.virtualRegisters.write(to: memory, monotonic: 0, wallClock: 0, pending: 0)
    } catch {
      throw .layout(error)
    }
    do {
      try vcpu.setSpecialRegisters(MachineLayout.longModeSpecialRegisters(from: vcpu.specialRegisters()))
      try vcpu.setRegisters(MachineLayout.initialRegisters(entry: image.entry, memorySize: memory.size))
    } catch {
      throw .kvm(error)
    }
    clockOrigin = monotonicNanoseconds()
    attach(machine)
  }

  /// Puts the image and the host-built layout into `memory` (whose pages were discarded or never written): the
  /// image's memory template mapped copy-on-write, or, when no template can be made, written page by page into
  /// anonymous memory.
  private func installImage(in memory: GuestMemory, template: MemoryTemplate?) throws(VMSetupError) {
    do {
      if let template {
        try memory.region.mapPrivately(template.file, id: template.id)
        return
      }
      try memory.region.mapAnonymous()
    } catch {
      throw .kvm(error)
    }
    do throws(GuestMemoryError) {
      try MachineLayout.install(in: memory)
      try image.load(intoFresh: memory)
    } catch {
      // The image and layout were validated against this memory size; a failure here is a host bug.
      throw .layout(error)
    }
  }

  /// The virtual-registers page of this VM on `machine`'s vCPU (whose TSC rate it reports).
  private func virtualRegisters(for machine: ResidentMachine) -> VirtualRegistersPage {
    let tscHz = UInt64((try? machine.vcpu.tscFrequencyKHz()) ?? 0) * 1000
    return VirtualRegistersPage(
      VirtualRegistersPage.Fixed(
        vmID: configuration.id, memorySize: machine.memory.size, tscFrequencyHz: tscHz, diskBlocks: disk.blocks,
        diskFlags: disk.flags, network: configuration.network))
  }

  /// Makes `machine` the VM's resident part: registers the devices' hypercalls and points the control at it.
  private func attach(_ machine: ResidentMachine) {
    console.register(in: &machine.hypercalls)
    disk.register(in: &machine.hypercalls)
    network.register(in: &machine.hypercalls)
    machine.finishSetup()
    resident = machine
    control.attach(machine.vcpu.kicker)
  }

  // MARK: Swapping

  /// Writes the whole VM (memory and machine state) to `file`; the VM stays resident and must not be
  /// running. Only pages changed since the image in `file` was loaded are written, and zero pages never.
  /// Nothing is durable (or released) until the caller syncs the store and calls `commitSwapOut`.
  func writeSwapImage(to file: SwapFile) throws(SwapError) -> PendingSwapWrite {
    guard let machine = resident else { throw .notResident(vmID: configuration.id) }
    let state: SavedMachineState
    let changed: PageBitmap
    do {
      try machine.vcpu.completePendingExit()
      let pending = interrupts.current
      let idle: SavedMachineState.Idle =
        switch idleWait {
        case _ where pending != 0: .notIdle  // an interrupt (maybe its timer) already ended any idle
        case nil: .notIdle
        case .until(let deadline): .until(guestClock: deadline &- clockOrigin)
        case .forever: .forever
        }
      state = SavedMachineState(
        vcpu: try VCPUState(capturing: machine.vcpu), guestClock: monotonicNanoseconds() &- clockOrigin,
        idleRequest: idleRequest, pendingInterrupts: pending, idle: idle,
        kvmClock: machine.machine.fd >= 0 ? try machine.machine.kvmClock() : nil)
      changed = try machine.takeChangedPages()
    } catch {
      throw .kvm(error)
    }
    let previous = file === swapFile ? machine.swapEntries : nil
    return try file.write(memory: machine.memory, state: state.encoded(), previous: previous, changed: changed)
  }

  /// Finishes a synced swap-out: the image becomes the committed one and the KVM objects and memory are
  /// released. When the commit fails the VM stays resident and nothing is lost.
  func commitSwapOut(_ pending: PendingSwapWrite, to file: SwapFile) throws(SwapError) {
    try file.complete(pending)
    swapFile = file
    control.attach(nil)
    resident = nil
  }

  /// Restores the VM from its swap file into fresh KVM objects and memory of its own; it continues exactly where
  /// it was, its clock having jumped by the time it spent swapped out. Returns the pages read.
  @discardableResult
  public func swapIn(system: KVMSystem) throws(SwapError) -> Int {
    guard resident == nil else { return 0 }
    let machine: ResidentMachine
    do {
      machine = try ResidentMachine(system: system, memorySize: configuration.memorySize, tracksDirtyPages: true)
    } catch {
      throw .kvm(error)
    }
    return try swapIn(on: machine)
  }

  /// `swapIn(system:)` into a machine shell from `pool`, which goes back to the pool when the VM leaves memory.
  @discardableResult
  public func swapIn(from pool: ShellPool) throws(SwapError) -> Int {
    guard resident == nil else { return 0 }
    let machine: ResidentMachine
    do {
      machine = try ResidentMachine(pool: pool, memorySize: configuration.memorySize)
    } catch {
      throw .kvm(error)
    }
    return try swapIn(on: machine)
  }

  /// Loads the swap image into `machine` (anonymous memory, all zero) and restores the vCPU and the clocks.
  private func swapIn(on machine: ResidentMachine) throws(SwapError) -> Int {
    guard let file = swapFile else { throw .noImage(vmID: configuration.id) }
    do {
      try machine.memory.region.mapAnonymous()
    } catch {
      throw .kvm(error)
    }
    let image = try file.load(into: machine.memory)
    guard var state = SavedMachineState(encoded: image.state) else {
      throw .corrupt(path: file.path, reason: "the machine state is malformed")
    }
    // The guest's clock went on while the VM was out of memory (in this process): so do its TSC and KVM clock.
    let elapsed = (monotonicNanoseconds() &- clockOrigin).subtractingReportingOverflow(state.guestClock)
    let away = elapsed.overflow ? 0 : elapsed.partialValue
    do {
      state.vcpu.advanceTimeStampCounter(
        byNanoseconds: away, kilohertz: UInt64((try? machine.vcpu.tscFrequencyKHz()) ?? 0))
      let skipped = try state.vcpu.restore(into: machine.vcpu)
      statistics.msrsNotRestored &+= UInt64(skipped.count)
      if let clock = state.kvmClock { try machine.machine.setKVMClock(clock &+ away) }
    } catch {
      throw .kvm(error)
    }
    machine.virtualRegisters = virtualRegisters(for: machine)
    if let idle = idleToRestore {
      // The clock was set when the VM was re-created; a known idle's end is the scheduler's (its timer or an
      // interrupt woke the VM, which is why it is being swapped in).
      idleToRestore = nil
      idleRequest = state.idleRequest
      interrupts.raise(state.pendingInterrupts, notifyListener: false)
      if idle == .unknown, let request = state.idleRequest, request.timeout > 0, request.timeout < DENALI_IDLE_FOREVER {
        idleTimeoutPassed()
      }
      restoredIdle = nil
    }
    machine.swapEntries = image.entries
    _ = machine.memory.takeHostWrites()
    attach(machine)
    return image.entries.count
  }

  /// Runs the guest on this thread until it terminates, faults or passes its timeout, blocking while it
  /// idles. Throws only for host failures. (The scheduler runs VMs slice by slice instead.)
  public func run() throws(KVMError) -> VMOutcome {
    var watchdog: DispatchWorkItem?
    if let timeout = configuration.timeout {
      let control = control
      let item = DispatchWorkItem { control.expire() }
      DispatchQueue.global().asyncAfter(deadline: .now() + timeout.dispatchInterval, execute: item)
      watchdog = item
    }
    defer { watchdog?.cancel() }
    while true {
      switch try runSlice() {
      case .finished(let outcome):
        return outcome
      case .yielded, .preempted:
        continue
      case .idle(let deadline):
        if interrupts.wait(untilMonotonicNanoseconds: deadline) { idleTimeoutPassed() }
      }
    }
  }

  /// Runs the guest until it finishes, idles with a timeout, yields, or is preempted through `control`.
  /// Only one thread may run a VM at a time; handing it between threads needs a happens-before edge.
  public func runSlice() throws(KVMError) -> SliceEnd {
    guard let machine = resident else { throw KVMError(operation: "running a VM that is not resident", errno: 22) }
    idleWait = nil
    deliverIdleResult(machine.memory)
    while true {
      if control.hasExpired { return .finished(.timedOut) }
      let refreshed = monotonicNanoseconds()
      refreshVirtualRegisters(machine, now: refreshed)
      let probing = machine.progress.isProbing
      let measuring = takesCPUSample()
      let timed = probing || measuring != 0
      let cpuBefore = timed ? threadCPUNanoseconds() : 0
      // The clock read for the virtual registers also starts the run's wall time, unless a CPU clock read (a
      // system call) came between.
      let entered = timed ? monotonicNanoseconds() : refreshed
      let exit = try machine.vcpu.run()
      let exited = monotonicNanoseconds()
      statistics.guestNanoseconds &+= exited &- entered
      if timed {
        let used = threadCPUNanoseconds() &- cpuBefore
        if probing { machine.progress.addProbeTime(used) }
        statistics.guestCPUNanoseconds &+= used &* measuring
      }
      statistics.exits.count(exit)
      switch try handle(exit, machine) {
      case .resume:
        continue
      case .preempted:
        return control.hasExpired ? .finished(.timedOut) : .preempted
      case .finish(let outcome):
        return .finished(outcome)
      case .idle(let timeout, let address):
        statistics.idles += 1
        idleRequest = (address, timeout)
        if timeout == 0 { return .yielded }  // give up the CPU, stay runnable
        if interrupts.current != 0 {
          deliverIdleResult(machine.memory)
          continue
        }
        let deadline: UInt64? =
          timeout >= DENALI_IDLE_FOREVER ? nil : exited.addingReportingOverflow(timeout).partialValue
        idleWait = deadline.map(IdleWait.until) ?? .forever
        return .idle(until: deadline)
      }
    }
  }

  /// How many times the coming KVM_RUN's thread CPU time counts for `GuestCPUMeasurement`: 0 when it is not timed.
  private func takesCPUSample() -> UInt64 {
    let interval = GuestCPUMeasurement.samplingInterval
    guard interval > 1 else { return interval }
    return cpuSampleDraws.next() % interval == 0 ? interval : 0
  }

  /// The host memory this VM's next slice touches first, for the scheduler to prefetch (`WakeupFootprint`).
  func wakeupFootprint() -> WakeupFootprint {
    var footprint = WakeupFootprint()
    footprint.add(object: self, lines: 3)
    footprint.add(object: interrupts)
    footprint.add(object: control)
    guard let machine = resident else { return footprint }
    footprint.add(object: machine, lines: 3)
    footprint.add(object: machine.memory)
    footprint.add(machine.memory.hostWritesHintAddress)
    footprint.add(machine.hypercalls.hintAddress(of: DENALI_HC_IDLE))
    footprint.add(object: machine.shell)
    let vcpu = machine.vcpu.hintAddresses
    footprint.add(vcpu.vcpu)
    footprint.add(vcpu.kicker)
    footprint.add(vcpu.runPage)
    let registers = UInt64(DENALI_GPA_VREGS)
    footprint.add(machine.memory.hintAddress(of: registers))
    footprint.add(machine.memory.hintAddress(of: registers + UInt64(WakeupFootprint.lineSize)))
    if let request = idleRequest { footprint.add(machine.memory.hintAddress(of: request.address)) }
    return footprint
  }

  /// Ends an idle whose timeout passed: raises the timer bit, which is delivered when the guest next runs.
  public func idleTimeoutPassed() {
    interrupts.raise(DENALI_IRQ_TIMER, notifyListener: false)
  }

  /// Ends an idle whose timeout passed, for a VM the calling worker is about to run: the timer bit is set
  /// without waking anyone (see `VirtualInterrupts.raiseBeforeRun`).
  func idleTimeoutPassedBeforeRun() {
    interrupts.raiseBeforeRun(DENALI_IRQ_TIMER)
  }

  /// Completes an outstanding idle hypercall: writes ret and the delivered (now cleared) pending mask.
  private func deliverIdleResult(_ memory: GuestMemory) {
    guard let request = idleRequest else { return }
    idleRequest = nil
    var call = denali_hc_idle()
    call.ret = 0
    call.timeout_ns = request.timeout
    call.pending = interrupts.take()
    // The table checked the struct's bounds before dispatching.
    try? memory.store(call, at: request.address)
  }

  /// Rewrites the virtual-registers page: host-owned fields, clocks and the pending mask.
  private func refreshVirtualRegisters(_ machine: ResidentMachine, now: UInt64) {
    // The page lies inside every valid memory size, so this cannot fail.
    try? machine.virtualRegisters.write(
      to: machine.memory, monotonic: now &- clockOrigin, wallClock: wallClockNanoseconds(),
      pending: interrupts.current)
  }

  /// What the run loop does after an exit.
  private enum ExitAction {
    case resume
    case preempted
    case finish(VMOutcome)
    case idle(timeout: UInt64, structAddress: UInt64)
  }

  /// Handles one exit.
  private func handle(_ exit: VMExit, _ machine: ResidentMachine) throws(KVMError) -> ExitAction {
    func rip() throws(KVMError) -> UInt64 { try machine.exitRegisters().rip }
    switch exit {
    case .interrupted, .longRun, .debug: break
    default: machine.progress.exited(vcpu: machine.vcpu)
    }
    switch exit {
    case .io(let io):
      return try handle(io, machine)
    case .mmio(let access):
      return .finish(.faulted(.memoryOutOfBounds(address: access.address, isWrite: access.isWrite, rip: try rip())))
    case .halt:
      return .finish(.faulted(.halted(rip: try rip() &- 1)))
    case .shutdown:
      return .finish(.faulted(.tripleFault(rip: try rip())))
    case .internalError(let suberror):
      return .finish(.faulted(.emulationFailure(suberror: suberror, rip: try rip())))
    case .failEntry(let reason):
      return .finish(.faulted(.entryFailure(hardwareReason: reason)))
    case .systemEvent(let type):
      return .finish(.faulted(.unexpectedExit("system event \(type)", rip: try rip())))
    case .other(let reason):
      return .finish(.faulted(.unexpectedExit("exit reason \(reason)", rip: try rip())))
    case .interrupted, .longRun, .debug:
      return try handleProgressCheck(exit, machine)
    }
  }

  /// Handles an exit that says nothing by itself about the guest: a preemption, the run watchdog, a step of the
  /// progress probe. Stops a guest KVM retries forever (see `ProgressWatch`); otherwise the guest continues,
  /// and only a preemption ends the slice.
  private func handleProgressCheck(_ exit: VMExit, _ machine: ResidentMachine) throws(KVMError) -> ExitAction {
    let verdict: ProgressWatch.Verdict
    switch exit {
    case .debug:
      guard machine.progress.isProbing || machine.progress.mayStepWithoutProbe else {
        return .finish(.faulted(.unexpectedExit("debug exit", rip: try machine.exitRegisters().rip)))
      }
      verdict = machine.progress.debugExit(
        try machine.exitRegisters(), vcpu: machine.vcpu, code: try machine.guestCode())
    default:
      verdict = machine.progress.sample(try machine.exitRegisters(), vcpu: machine.vcpu)
    }
    if case .stuck(let rip) = verdict { return .finish(.faulted(.stuck(rip: rip))) }
    return exit == .interrupted ? .preempted : .resume
  }

  private func handle(_ io: IOExit, _ machine: ResidentMachine) throws(KVMError) -> ExitAction {
    let memory = machine.memory
    // Every way out below needs RIP, and a hypercall or trap its operand: EAX, which `out dx, eax` wrote (taken
    // from the registers, so KVM's data page is never mapped: 4 KiB per VM).
    let registers = try machine.exitRegisters()
    let base = UInt16(DENALI_HYPERCALL_PORT_BASE)
    let isHypercallPort = io.port >= base && io.port < base + UInt16(DENALI_HYPERCALL_MAX)
    if isHypercallPort, io.direction == .output, io.size == 4, io.count == 1,
      HypercallInstruction.isSingleOut(rip: registers.rip, code: try machine.guestCode())
    {
      statistics.hypercalls += 1
      if statistics.firstHypercall == nil {
        statistics.firstHypercall = .now
        statistics.firstHypercallMonotonic = monotonicNanoseconds()
      }
      let number = io.port - base
      let structAddress = UInt64(UInt32(truncatingIfNeeded: registers.rax))
      guard let disposition = machine.hypercalls.dispatch(number: number, structAddress: structAddress, memory: memory)
      else {
        return .finish(.faulted(.invalidHypercall(number: number, structAddress: structAddress, rip: registers.rip)))
      }
      switch disposition {
      case .resume: return .resume
      case .terminate(let status): return .finish(.exited(status: status))
      case .idle(let timeout): return .idle(timeout: timeout, structAddress: structAddress)
      }
    }
    if io.port == UInt16(DENALI_PORT_TRAP), io.direction == .output, MachineLayout.isTrapStub(registers.rip) {
      // The stub's `mov eax, vector ; out dx, eax`: the vector is in EAX.
      let vector = UInt8(truncatingIfNeeded: registers.rax)
      return .finish(.faulted(try exceptionFault(vector: vector, machine)))
    }
    return .finish(
      .faulted(
        .invalidPortIO(
          port: io.port, isInput: io.direction == .input, size: io.size, count: io.count, rip: registers.rip)))
  }

  /// Decodes a CPU exception from the frame the CPU pushed before entering the host's trap stub (read at RSP
  /// through the guest's page tables, as the CPU wrote it).
  private func exceptionFault(vector: UInt8, _ machine: ResidentMachine) throws(KVMError) -> GuestFault {
    let regs = try machine.exitRegisters()
    let stack = try machine.guestCode()
    let hasErrorCode = GuestFault.hasErrorCode(vector)
    let errorCode = hasErrorCode ? stack.uint64(at: regs.rsp) : nil
    let faultingRIP = stack.uint64(at: regs.rsp &+ (hasErrorCode ? 8 : 0)) ?? regs.rip
    let address = vector == 14 ? stack.specialRegisters.cr2 : nil
    return .exception(vector: vector, rip: faultingRIP, errorCode: errorCode, faultAddress: address)
  }

}

extension Duration {
  /// This duration as a Dispatch interval, in nanoseconds.
  var dispatchInterval: DispatchTimeInterval {
    let total = DenaliCore.nanoseconds(self)
    return total > UInt64(Int.max) ? .never : .nanoseconds(Int(total))
  }
}
