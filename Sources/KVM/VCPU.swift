// VCPU.swift: one KVM vCPU file descriptor, its kvm_run mapping, and KVM_RUN decoded into VMExit.
import CKVM
import Glibc

/// A vCPU: runs the guest and reports each exit as a `VMExit`.
public final class VCPU {
  /// The vCPU file descriptor.
  public let fd: Int32
  /// The VM this vCPU belongs to (kept alive while the vCPU is).
  public let machine: VirtualMachine
  let mapping: RunMapping
  /// Kicks this vCPU out of `KVM_RUN` from any thread.
  public let kicker: VCPUKicker

  init(fd: Int32, mmapSize: Int, machine: VirtualMachine) throws(KVMError) {
    let pointer = mmap(nil, mmapSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    guard let pointer, pointer != MAP_FAILED else { throw KVMError.last("mmap kvm_run") }
    self.fd = fd
    self.machine = machine
    self.mapping = RunMapping(pointer: pointer, size: mmapSize)
    let (slot, word) = machine.system.runWatchdog.reserveSlot()
    self.kicker = VCPUKicker(mapping: mapping, runWord: word, watchdogSlot: slot)
    machine.system.runWatchdog.register(kicker)
  }

  deinit {
    machine.system.runWatchdog.unregister(kicker)
    close(fd)
  }

  private var runData: UnsafeMutablePointer<kvm_run> { mapping.run }

  /// Host addresses a run touches before KVM writes anything (this object, the kick state, the first line of
  /// kvm_run), as numbers for cache prefetch hints only.
  public var hintAddresses: (vcpu: UInt, kicker: UInt, runPage: UInt) {
    (
      UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque()),
      UInt(bitPattern: Unmanaged.passUnretained(kicker).toOpaque()), UInt(bitPattern: mapping.pointer)
    )
  }

  /// Fills a KVM structure with the `request` ioctl (a KVM_GET_* on this vCPU) named `name` in errors.
  func read<T: BitwiseCopyable>(_ empty: T, _ request: UInt, _ name: String) throws(KVMError) -> T {
    var value = empty
    // SAFETY: `value` is a valid T on the stack of the size `request` fills.
    guard ckvm_ioctl_pointer(fd, request, &value) == 0 else { throw KVMError.last(name) }
    return value
  }

  /// Passes a KVM structure to the `request` ioctl (a KVM_SET_* on this vCPU) named `name` in errors.
  func write<T: BitwiseCopyable>(_ value: T, _ request: UInt, _ name: String) throws(KVMError) {
    var value = value
    // SAFETY: `value` is a valid T on the stack of the size `request` reads.
    guard ckvm_ioctl_pointer(fd, request, &value) == 0 else { throw KVMError.last(name) }
  }

  /// Reads the general-purpose registers.
  public func registers() throws(KVMError) -> Registers {
    Registers(try read(kvm_regs(), CKVM_GET_REGS, "KVM_GET_REGS"))
  }

  /// Writes the general-purpose registers.
  public func setRegisters(_ registers: Registers) throws(KVMError) {
    try write(registers.kvm, CKVM_SET_REGS, "KVM_SET_REGS")
  }

  /// Reads the special registers.
  public func specialRegisters() throws(KVMError) -> SpecialRegisters {
    SpecialRegisters(try read(kvm_sregs(), CKVM_GET_SREGS, "KVM_GET_SREGS"))
  }

  /// Writes the special registers.
  public func setSpecialRegisters(_ registers: SpecialRegisters) throws(KVMError) {
    try write(registers.raw, CKVM_SET_SREGS, "KVM_SET_SREGS")
  }

  /// Reads the x87 FPU state.
  public func fpu() throws(KVMError) -> kvm_fpu { try read(kvm_fpu(), CKVM_GET_FPU, "KVM_GET_FPU") }

  /// Writes the x87 FPU state.
  public func setFPU(_ state: kvm_fpu) throws(KVMError) { try write(state, CKVM_SET_FPU, "KVM_SET_FPU") }

  /// Reads model-specific register `index`.
  public func msr(_ index: UInt32) throws(KVMError) -> UInt64 {
    var value: UInt64 = 0
    guard ckvm_get_msr(fd, index, &value) == 1 else {
      throw KVMError.last("KVM_GET_MSRS(0x\(String(index, radix: 16)))")
    }
    return value
  }

  /// Writes model-specific register `index`.
  public func setMSR(_ index: UInt32, _ value: UInt64) throws(KVMError) {
    guard ckvm_set_msr(fd, index, value) == 1 else {
      throw KVMError.last("KVM_SET_MSRS(0x\(String(index, radix: 16)))")
    }
  }

  /// Completes the instruction of the last exit (an I/O exit is finished only by the next KVM_RUN) without
  /// running any further guest code, so the registers can be saved. Uses `immediate_exit`.
  public func completePendingExit() throws(KVMError) {
    ckvm_run_set_immediate_exit(runData, 1)
    defer { ckvm_run_set_immediate_exit(runData, 0) }
    let result = ckvm_ioctl_value(fd, CKVM_RUN, 0)
    let savedErrno = Glibc.errno
    guard result < 0, savedErrno == EINTR else {
      throw KVMError(
        operation: "KVM_RUN with immediate_exit (returned \(result))", errno: result < 0 ? savedErrno : EIO)
    }
  }

  /// The guest's time-stamp counter frequency in kHz (`KVM_GET_TSC_KHZ`).
  public func tscFrequencyKHz() throws(KVMError) -> UInt32 {
    let khz = ckvm_ioctl_value(fd, CKVM_GET_TSC_KHZ, 0)
    guard khz > 0 else { throw KVMError.last("KVM_GET_TSC_KHZ") }
    return UInt32(khz)
  }

  /// Enters the guest until its next exit and decodes why it stopped.
  /// Returns `.interrupted` when a signal or `kicker.requestExit()` ended the run, and `.longRun` when only the
  /// run watchdog did (the run had lasted a whole watchdog period).
  public func run() throws(KVMError) -> VMExit {
    let unblockError = ckvm_unblock_kick_signal(KVMSystem.kickSignal)
    guard unblockError == 0 else { throw KVMError(operation: "pthread_sigmask(kick signal)", errno: unblockError) }
    kicker.enter()
    let result = ckvm_ioctl_value(fd, CKVM_RUN, 0)
    let savedErrno = Glibc.errno
    kicker.leave()
    if result < 0 {
      if savedErrno == EINTR || savedErrno == EAGAIN {
        // Clear immediate_exit before taking the reasons: a request made after this point ends the next run.
        ckvm_run_set_immediate_exit(runData, 0)
        let reasons = kicker.takeReasons()
        return reasons.check && !reasons.exit ? .longRun : .interrupted
      }
      throw KVMError(operation: "KVM_RUN", errno: savedErrno)
    }
    return decodeExit()
  }

  private func decodeExit() -> VMExit {
    // SAFETY: the kernel wrote kvm_run before KVM_RUN returned and no other thread writes it now.
    let reason = Int32(runData.pointee.exit_reason)
    switch reason {
    case KVM_EXIT_IO:
      let io = ckvm_run_io(runData)
      let direction: IODirection = io.direction == UInt8(KVM_EXIT_IO_OUT) ? .output : .input
      return .io(IOExit(port: io.port, size: io.size, direction: direction, count: io.count))
    case KVM_EXIT_MMIO:
      let mmio = ckvm_run_mmio(runData)
      return .mmio(MMIOExit(address: mmio.physical_address, length: mmio.length, isWrite: mmio.is_write != 0))
    case KVM_EXIT_HLT:
      return .halt
    case KVM_EXIT_SHUTDOWN:
      return .shutdown
    case KVM_EXIT_FAIL_ENTRY:
      return .failEntry(hardwareReason: ckvm_run_fail_entry_reason(runData))
    case KVM_EXIT_INTERNAL_ERROR:
      return .internalError(suberror: ckvm_run_internal_suberror(runData))
    case KVM_EXIT_SYSTEM_EVENT:
      return .systemEvent(type: ckvm_run_system_event_type(runData))
    case KVM_EXIT_INTR:
      return .interrupted
    case CKVM_EXIT_DEBUG:
      return .debug
    default:
      return .other(reason: UInt32(bitPattern: reason))
    }
  }

  /// The first value an OUT exit wrote, zero-extended, read from KVM's data page; nil when the last exit was
  /// not an OUT of at most 8 bytes. Reading it maps that page into the process (a page of memory counted per
  /// vCPU): callers that can take the value from the guest's registers should.
  public func outputValue() -> UInt64? {
    // SAFETY: the kernel wrote kvm_run before KVM_RUN returned and no other thread writes it now.
    guard Int32(runData.pointee.exit_reason) == KVM_EXIT_IO else { return nil }
    let io = ckvm_run_io(runData)
    guard io.direction == UInt8(KVM_EXIT_IO_OUT), io.size <= 8, io.data_offset <= UInt64(mapping.size),
      UInt64(io.size) <= UInt64(mapping.size) - io.data_offset
    else { return nil }
    // SAFETY: the data lies inside the kvm_run mapping (checked above); byte loads need no alignment.
    let bytes = UnsafeRawPointer(mapping.pointer) + Int(io.data_offset)
    var value: UInt64 = 0
    for index in 0..<Int(io.size) {
      value |= UInt64(bytes.load(fromByteOffset: index, as: UInt8.self)) << (8 * UInt64(index))
    }
    return value
  }

  /// Supplies the data for a pending IN exit: every byte of every access is set to `byte`.
  public func completeInput(filling byte: UInt8) {
    let io = ckvm_run_io(runData)
    let length = UInt64(io.size) * UInt64(io.count)
    let (end, overflow) = io.data_offset.addingReportingOverflow(length)
    guard !overflow, end <= UInt64(mapping.size) else { return }
    // SAFETY: the data range lies inside the kvm_run mapping (checked above).
    memset(mapping.pointer + Int(io.data_offset), Int32(byte), Int(length))
  }
}

/// The shared `kvm_run` mapping; unmapped when both the vCPU and its kicker are gone.
final class RunMapping: @unchecked Sendable {
  let pointer: UnsafeMutableRawPointer
  let size: Int

  init(pointer: UnsafeMutableRawPointer, size: Int) {
    self.pointer = pointer
    self.size = size
  }

  // SAFETY: the mapping is at least sizeof(kvm_run) bytes, as KVM_GET_VCPU_MMAP_SIZE guarantees.
  var run: UnsafeMutablePointer<kvm_run> { pointer.assumingMemoryBound(to: kvm_run.self) }

  deinit { munmap(pointer, size) }
}
