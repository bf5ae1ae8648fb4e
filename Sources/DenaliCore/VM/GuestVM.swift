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
  /// When the first hypercall exit was seen.
  public var firstHypercall: ContinuousClock.Instant?
}

/// A Denali virtual machine with one vCPU, loaded with a guest image and ready to run.
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
  private let createdAt = monotonicNanoseconds()
  /// The idle hypercall the guest is waiting in, completed when it next runs.
  private var idleRequest: (address: UInt64, timeout: UInt64)?
  private let memory: GuestMemory
  private let vcpu: VCPU
  private var hypercalls = HypercallTable()

  /// Creates the VM, its memory and vCPU, loads `image` and sets up the Denali machine state.
  public init(
    system: KVMSystem, image: GuestImage, configuration: VMConfiguration, console: @escaping ConsoleDevice.Sink
  ) throws(VMSetupError) {
    try configuration.validate()
    guard image.end <= configuration.memorySize,
      configuration.memorySize - image.end >= VMConfiguration.minimumFreeMemory
    else { throw .memoryTooSmall(imageEnd: image.end, memorySize: configuration.memorySize) }
    self.configuration = configuration
    self.console = ConsoleDevice(sink: console)
    self.disk = DiskDevice(file: configuration.disk)
    self.network = NetworkDevice(port: configuration.network, interrupts: interrupts)
    let machine: VirtualMachine
    do {
      machine = try system.createVirtualMachine()
      memory = try GuestMemory(size: configuration.memorySize)
      try machine.mapMemory(memory, at: 0)
      vcpu = try machine.createVCPU()
    } catch {
      throw .host(error)
    }
    control = VMControl(kicker: vcpu.kicker, interrupts: interrupts)
    do {
      try MachineLayout.install(in: memory)
      try image.load(intoFresh: memory)
      let boot = BootInfo(memorySize: memory.size, imageEnd: image.end, arguments: configuration.arguments)
      try boot.write(to: memory)
      let tscHz = UInt64((try? vcpu.tscFrequencyKHz()) ?? 0) * 1000
      let fixed = VirtualRegistersPage.Fixed(
        vmID: configuration.id, memorySize: memory.size, tscFrequencyHz: tscHz, diskBlocks: disk.blocks,
        diskFlags: disk.flags, network: configuration.network)
      try VirtualRegistersPage.install(fixed, in: memory)
    } catch {
      // The image and layout were validated against this memory size; a failure here is a host bug.
      throw .host(KVMError(operation: "loading the guest (\(error))", errno: 22))
    }
    do {
      try vcpu.setSpecialRegisters(MachineLayout.longModeSpecialRegisters(from: vcpu.specialRegisters()))
      try vcpu.setRegisters(MachineLayout.initialRegisters(entry: image.entry, memorySize: memory.size))
    } catch {
      throw .host(error)
    }
    self.console.register(in: &hypercalls)
    self.disk.register(in: &hypercalls)
    self.network.register(in: &hypercalls)
    // Setup is over: the vCPU keeps the VM (and its memory regions) alive, so one descriptor per VM is enough.
    machine.releaseDescriptor()
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
    deliverIdleResult()
    while true {
      if control.hasExpired { return .finished(.timedOut) }
      refreshVirtualRegisters()
      let entered = monotonicNanoseconds()
      let exit = try vcpu.run()
      statistics.guestNanoseconds &+= monotonicNanoseconds() &- entered
      statistics.exits.count(exit)
      switch try handle(exit) {
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
          deliverIdleResult()
          continue
        }
        let deadline: UInt64? =
          timeout >= DENALI_IDLE_FOREVER ? nil : monotonicNanoseconds().addingReportingOverflow(timeout).partialValue
        return .idle(until: deadline)
      }
    }
  }

  /// Ends an idle whose timeout passed: raises the timer bit, which is delivered when the guest next runs.
  public func idleTimeoutPassed() {
    interrupts.raise(DENALI_IRQ_TIMER, notifyListener: false)
  }

  /// Completes an outstanding idle hypercall: writes ret and the delivered (now cleared) pending mask.
  private func deliverIdleResult() {
    guard let request = idleRequest else { return }
    idleRequest = nil
    var call = denali_hc_idle()
    call.ret = 0
    call.timeout_ns = request.timeout
    call.pending = interrupts.take()
    // The table checked the struct's bounds before dispatching.
    try? memory.store(call, at: request.address)
  }

  /// Brings the clocks and the pending mask in the virtual-registers page up to date.
  private func refreshVirtualRegisters() {
    // The page lies inside every valid memory size, so this cannot fail.
    try? VirtualRegistersPage.refresh(
      in: memory, monotonic: monotonicNanoseconds() &- createdAt, wallClock: wallClockNanoseconds(),
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
  private func handle(_ exit: VMExit) throws(KVMError) -> ExitAction {
    switch exit {
    case .io(let io):
      return try handle(io)
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
    case .interrupted:
      return .preempted
    }
  }

  private func handle(_ io: IOExit) throws(KVMError) -> ExitAction {
    let base = UInt16(DENALI_HYPERCALL_PORT_BASE)
    let isHypercallPort = io.port >= base && io.port < base + UInt16(DENALI_HYPERCALL_MAX)
    if isHypercallPort, io.direction == .output, io.size == 4, io.count == 1 {
      statistics.hypercalls += 1
      if statistics.firstHypercall == nil { statistics.firstHypercall = .now }
      let number = io.port - base
      guard let disposition = hypercalls.dispatch(number: number, structAddress: io.value, memory: memory) else {
        return .finish(.faulted(.invalidHypercall(number: number, structAddress: io.value, rip: try rip())))
      }
      switch disposition {
      case .resume: return .resume
      case .terminate(let status): return .finish(.exited(status: status))
      case .idle(let timeout): return .idle(timeout: timeout, structAddress: io.value)
      }
    }
    if io.port == UInt16(DENALI_PORT_TRAP), io.direction == .output, try MachineLayout.isTrapStub(rip()) {
      return .finish(.faulted(try exceptionFault(vector: UInt8(truncatingIfNeeded: io.value))))
    }
    return .finish(.faulted(
      .invalidPortIO(port: io.port, isInput: io.direction == .input, size: io.size, count: io.count, rip: try rip())))
  }

  /// Decodes a CPU exception from the frame the CPU pushed before entering the host's trap stub.
  private func exceptionFault(vector: UInt8) throws(KVMError) -> GuestFault {
    let regs = try vcpu.registers()
    let hasErrorCode = GuestFault.hasErrorCode(vector)
    let errorCode = hasErrorCode ? try? memory.read(UInt64.self, at: regs.rsp) : nil
    let faultingRIP = (try? memory.read(UInt64.self, at: regs.rsp &+ (hasErrorCode ? 8 : 0))) ?? regs.rip
    let address = vector == 14 ? try vcpu.specialRegisters().cr2 : nil
    return .exception(vector: vector, rip: faultingRIP, errorCode: errorCode, faultAddress: address)
  }

  private func rip() throws(KVMError) -> UInt64 { try vcpu.registers().rip }
}

extension Duration {
  /// This duration as a Dispatch interval, in nanoseconds.
  var dispatchInterval: DispatchTimeInterval {
    let total = DenaliCore.nanoseconds(self)
    return total > UInt64(Int.max) ? .never : .nanoseconds(Int(total))
  }
}
