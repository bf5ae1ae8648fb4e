// SavedMachineState.swift: the machine state a swap image carries beside guest memory: the vCPU, the guest's
// clock, the idle hypercall it is waiting in, and its pending interrupts.
import KVM

/// Everything besides memory that a VM needs to continue where it stopped.
struct SavedMachineState {
  private static let version: UInt32 = 1

  /// The vCPU's registers, FPU and TSC.
  var vcpu: VCPUState
  /// The guest's monotonic clock when it was saved, nanoseconds.
  var guestClock: UInt64
  /// The idle hypercall the guest waits in (struct address and timeout), completed when it next runs.
  var idleRequest: (address: UInt64, timeout: UInt64)?
  /// Pending virtual interrupts.
  var pendingInterrupts: UInt64

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
    return writer.bytes
  }

  /// Decodes `encoded()` output; nil when it is malformed or from another version.
  init?(encoded bytes: [UInt8]) {
    var reader = ByteReader(bytes)
    guard reader.read(UInt32.self) == Self.version, let length = reader.read(UInt32.self),
      let vcpuBytes = reader.read(count: Int(length)), let vcpu = VCPUState(serialized: vcpuBytes),
      let clock = reader.read(UInt64.self), let hasIdle = reader.read(UInt8.self), hasIdle <= 1,
      let address = reader.read(UInt64.self), let timeout = reader.read(UInt64.self),
      let pending = reader.read(UInt64.self), reader.remaining == 0
    else { return nil }
    self.vcpu = vcpu
    guestClock = clock
    idleRequest = hasIdle == 1 ? (address, timeout) : nil
    pendingInterrupts = pending
  }

  /// A state to encode.
  init(vcpu: VCPUState, guestClock: UInt64, idleRequest: (address: UInt64, timeout: UInt64)?, pendingInterrupts: UInt64) {
    self.vcpu = vcpu
    self.guestClock = guestClock
    self.idleRequest = idleRequest
    self.pendingInterrupts = pendingInterrupts
  }
}
