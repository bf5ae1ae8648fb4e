// SavedMachineState.swift: the machine state a swap image carries beside guest memory: the vCPU (registers, FPU,
// MSRs, debug and extended control registers, pending events), the guest's clock, the idle hypercall it is
// waiting in, when that idle ends, and its pending interrupts.
import KVM

/// Everything besides memory that a VM needs to continue where it stopped.
struct SavedMachineState {
  /// Version 3 carries the whole vCPU (`VCPUState.Encoding.complete`: MSRs, debug registers, XCRs, events) and
  /// the VM's KVM clock;
  /// version 2 added `idle`. Versions 1 and 2 still load: their vCPU is registers, FPU and TSC only (the rest
  /// starts from KVM's reset values), and a version 1 idle is `.unknown`.
  private static let version: UInt32 = 3

  /// Whether the guest was waiting in an idle hypercall when it was saved, and until when.
  enum Idle: Equatable {
    /// Not recorded (a version 1 image): a pending idle with a timeout is ended when the VM next runs.
    case unknown
    /// Not waiting: the VM wants the CPU (or an interrupt already ended its idle).
    case notIdle
    /// Waiting until the guest's monotonic clock reads this many nanoseconds, or an interrupt.
    case until(guestClock: UInt64)
    /// Waiting for an interrupt only.
    case forever
  }

  /// The vCPU.
  var vcpu: VCPUState
  /// The guest's monotonic clock when it was saved, nanoseconds.
  var guestClock: UInt64
  /// The idle hypercall the guest waits in (struct address and timeout), completed when it next runs.
  var idleRequest: (address: UInt64, timeout: UInt64)?
  /// Pending virtual interrupts.
  var pendingInterrupts: UInt64
  /// The idle the guest waits in.
  var idle: Idle
  /// The VM's KVM clock when it was saved, nanoseconds; nil when not saved (an older image, or a VM whose
  /// descriptor was closed).
  var kvmClock: UInt64?

  /// The encoded form.
  func encoded() -> [UInt8] {
    var writer = ByteWriter()
    writer.append(Self.version)
    let vcpuBytes = vcpu.serialized()
    writer.append(UInt32(vcpuBytes.count))
    writer.append(bytes: vcpuBytes)
    writer.append(guestClock)
    writer.append(UInt8(idleRequest == nil ? 0 : 1))
    writer.append(idleRequest?.address ?? 0)
    writer.append(idleRequest?.timeout ?? 0)
    writer.append(pendingInterrupts)
    switch idle {
    case .unknown, .notIdle:
      writer.append(UInt8(0))
      writer.append(UInt64(0))
    case .until(let clock):
      writer.append(UInt8(1))
      writer.append(clock)
    case .forever:
      writer.append(UInt8(2))
      writer.append(UInt64(0))
    }
    writer.append(UInt8(kvmClock == nil ? 0 : 1))
    writer.append(kvmClock ?? 0)
    return writer.bytes
  }

  /// Decodes `encoded()` output of this version or an older one; nil when it is malformed or from an unknown
  /// version. Every length and count is checked before use (the bytes come from disk).
  init?(encoded bytes: [UInt8]) {
    var reader = ByteReader(bytes)
    guard let version = reader.read(UInt32.self), (1...Self.version).contains(version),
      let length = reader.read(UInt32.self), Int(length) <= reader.remaining,
      let vcpuBytes = reader.read(count: Int(length)),
      let vcpu = VCPUState(serialized: vcpuBytes, encoding: version >= 3 ? .complete : .registersAndTSC),
      let clock = reader.read(UInt64.self), let hasIdle = reader.read(UInt8.self), hasIdle <= 1,
      let address = reader.read(UInt64.self), let timeout = reader.read(UInt64.self),
      let pending = reader.read(UInt64.self)
    else { return nil }
    var idle = Idle.unknown
    if version >= 2 {
      guard let kind = reader.read(UInt8.self), let value = reader.read(UInt64.self) else { return nil }
      switch kind {
      case 0: idle = .notIdle
      case 1: idle = .until(guestClock: value)
      case 2: idle = .forever
      default: return nil
      }
    }
    if version >= 3 {
      guard let hasClock = reader.read(UInt8.self), hasClock <= 1, let value = reader.read(UInt64.self) else {
        return nil
      }
      kvmClock = hasClock == 1 ? value : nil
    }
    guard reader.remaining == 0 else { return nil }
    self.vcpu = vcpu
    guestClock = clock
    idleRequest = hasIdle == 1 ? (address, timeout) : nil
    pendingInterrupts = pending
    self.idle = idle
  }

  /// A state to encode.
  init(
    vcpu: VCPUState, guestClock: UInt64, idleRequest: (address: UInt64, timeout: UInt64)?, pendingInterrupts: UInt64,
    idle: Idle, kvmClock: UInt64?
  ) {
    self.kvmClock = kvmClock
    self.vcpu = vcpu
    self.guestClock = guestClock
    self.idleRequest = idleRequest
    self.pendingInterrupts = pendingInterrupts
    self.idle = idle
  }
}
