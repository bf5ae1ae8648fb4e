// VCPUState.swift: everything a single vCPU without an in-kernel irqchip needs to resume elsewhere.
import CKVM

/// A saved vCPU: general and special registers, the x87 FPU, and the time-stamp counter.
/// Capture it only after `VCPU.completePendingExit()`, so no instruction is half done.
public struct VCPUState: Sendable {
  /// General-purpose registers, RIP and RFLAGS.
  public var registers: kvm_regs
  /// Segment, control and descriptor-table registers, EFER.
  public var specialRegisters: kvm_sregs
  /// x87 FPU state (guests run without SSE, so this is all the floating-point state there is).
  public var fpu: kvm_fpu
  /// IA32_TIME_STAMP_COUNTER.
  public var timeStampCounter: UInt64

  /// MSR number of the time-stamp counter.
  static let tscMSR: UInt32 = 0x10

  /// Reads the state of `vcpu`.
  public init(capturing vcpu: VCPU) throws(KVMError) {
    registers = try vcpu.registers().kvm
    specialRegisters = try vcpu.specialRegisters().raw
    fpu = try vcpu.fpu()
    timeStampCounter = try vcpu.msr(Self.tscMSR)
  }

  /// Writes this state into `vcpu` (a fresh one or the one it came from).
  public func restore(into vcpu: VCPU) throws(KVMError) {
    try vcpu.setSpecialRegisters(SpecialRegisters(specialRegisters))
    try vcpu.setRegisters(Registers(registers))
    try vcpu.setFPU(fpu)
    try vcpu.setMSR(Self.tscMSR, timeStampCounter)
  }

  /// Size of the serialized form in bytes.
  public static let serializedSize =
    MemoryLayout<kvm_regs>.size + MemoryLayout<kvm_sregs>.size + MemoryLayout<kvm_fpu>.size + 8

  /// The state as bytes (the host's own struct layouts: valid only on the same kernel ABI, x86-64).
  public func serialized() -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(Self.serializedSize)
    withUnsafeBytes(of: registers) { bytes.append(contentsOf: $0) }
    withUnsafeBytes(of: specialRegisters) { bytes.append(contentsOf: $0) }
    withUnsafeBytes(of: fpu) { bytes.append(contentsOf: $0) }
    withUnsafeBytes(of: timeStampCounter.littleEndian) { bytes.append(contentsOf: $0) }
    return bytes
  }

  /// Decodes `serialized()` output; nil when the length is wrong.
  public init?(serialized bytes: some Collection<UInt8>) {
    guard bytes.count == Self.serializedSize else { return nil }
    let array = Array(bytes)
    var offset = 0
    func take<T: BitwiseCopyable>(_: T.Type) -> T {
      defer { offset += MemoryLayout<T>.size }
      // SAFETY: the length was checked against the sum of the sizes; T is plain data, any bytes are valid.
      return array.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    }
    registers = take(kvm_regs.self)
    specialRegisters = take(kvm_sregs.self)
    fpu = take(kvm_fpu.self)
    timeStampCounter = UInt64(littleEndian: take(UInt64.self))
  }
}
