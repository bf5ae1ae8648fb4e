// VCPUState.swift: everything a single vCPU without an in-kernel irqchip needs to resume elsewhere: registers,
// FPU, every MSR KVM lets a guest change, debug and extended control registers, and pending events.
import CKVM
import Glibc

/// A saved vCPU: general and special registers, the x87/SSE state, the MSRs of `SavedMSRList` (the time-stamp
/// counter among them), DR0-3/DR6/DR7, the XCRs, and the pending events (a queued exception, NMI blocking, the
/// interrupt shadow). Capture it only after `VCPU.completePendingExit()`, so no instruction is half done.
public struct VCPUState: Sendable {
  /// General-purpose registers, RIP and RFLAGS.
  public var registers: kvm_regs
  /// Segment (hidden parts included), control and descriptor-table registers, EFER, APIC base.
  public var specialRegisters: kvm_sregs
  /// x87 and SSE state (the guest's CPUID offers no XSAVE, so this is all the floating-point state there is).
  public var fpu: kvm_fpu
  /// The MSRs, in restore order (the time-stamp counter last).
  public var msrs: [MSREntry]
  /// DR0-3, DR6, DR7; nil when not saved (an older image, or a KVM without `KVM_CAP_DEBUGREGS`).
  public var debugRegisters: DebugRegisters?
  /// The XCRs; nil when not saved.
  public var extendedControlRegisters: ExtendedControlRegisters?
  /// Pending exception, NMI and interrupt-shadow state; nil when not saved.
  public var events: VCPUEvents?

  /// The time-stamp counter, when the state holds it.
  public var timeStampCounter: UInt64? { msrs.last { $0.index == SavedMSRList.timeStampCounter }?.value }

  /// Moves the saved time-stamp counter on by `nanoseconds` at `kilohertz` ticks per millisecond (for a vCPU
  /// restored after time passed that the guest's clock counts); nothing without a TSC or a rate.
  public mutating func advanceTimeStampCounter(byNanoseconds nanoseconds: UInt64, kilohertz: UInt64) {
    // ticks = nanoseconds × kHz / 10^6, in 128 bits; skipped when it would not fit in 64.
    let product = nanoseconds.multipliedFullWidth(by: kilohertz)
    guard product.high < 1_000_000 else { return }
    let ticks = UInt64(1_000_000).dividingFullWidth((product.high, product.low)).quotient
    guard ticks > 0 else { return }
    for index in msrs.indices where msrs[index].index == SavedMSRList.timeStampCounter {
      msrs[index].value &+= ticks
    }
  }

  /// Reads the state of `vcpu` (the MSRs of its system's `SavedMSRList`, the rest as its features allow).
  public init(capturing vcpu: VCPU) throws(KVMError) {
    let system = vcpu.machine.system
    registers = try vcpu.registers().kvm
    specialRegisters = try vcpu.specialRegisters().raw
    fpu = try vcpu.fpu()
    msrs = try vcpu.readMSRs(system.savedMSRs.indices)
    debugRegisters = system.features.debugRegisters ? try vcpu.debugRegisters() : nil
    extendedControlRegisters = system.features.extendedControlRegisters ? try vcpu.extendedControlRegisters() : nil
    events = system.features.vcpuEvents ? try vcpu.events() : nil
  }

  /// Writes this state into `vcpu` (a fresh one or the one it came from). MSRs that are not on `vcpu`'s
  /// `SavedMSRList` are not written, and MSRs KVM refuses are skipped; both are returned (none when the state
  /// was captured on the same KVM). Debug registers, XCRs and events are written when saved and supported.
  @discardableResult
  public func restore(into vcpu: VCPU) throws(KVMError) -> [MSREntry] {
    let system = vcpu.machine.system
    try vcpu.setSpecialRegisters(SpecialRegisters(specialRegisters))
    try vcpu.setRegisters(Registers(registers))
    try vcpu.setFPU(fpu)
    if let extendedControlRegisters, system.features.extendedControlRegisters,
      !extendedControlRegisters.registers.isEmpty
    {
      try vcpu.setExtendedControlRegisters(extendedControlRegisters)
    }
    let allowed = msrs.filter { system.savedMSRs.contains($0.index) }
    let ordered =
      allowed.filter { $0.index != SavedMSRList.timeStampCounter }
      + allowed.filter { $0.index == SavedMSRList.timeStampCounter }
    var skipped = msrs.filter { !system.savedMSRs.contains($0.index) }
    skipped += try vcpu.writeMSRs(ordered)
    if let events, system.features.vcpuEvents { try vcpu.setEvents(events) }
    if let debugRegisters, system.features.debugRegisters { try vcpu.setDebugRegisters(debugRegisters) }
    return skipped
  }

  // MARK: Serialized form

  /// The layouts `serialized()` has had. Both use the host's own struct layouts for registers and FPU: valid
  /// only on the same kernel ABI, x86-64.
  public enum Encoding: Sendable {
    /// Registers, special registers, FPU and the time-stamp counter only (what images held before MSRs,
    /// debug registers, XCRs and events were saved).
    case registersAndTSC
    /// Everything in this type (what `serialized()` writes).
    case complete
  }

  /// Size of the registers, special registers and FPU.
  private static let coreSize = MemoryLayout<kvm_regs>.size + MemoryLayout<kvm_sregs>.size + MemoryLayout<kvm_fpu>.size
  /// Bytes of one serialized MSR: index, a zero word, value.
  private static let msrEntrySize = 16
  /// Flags saying which optional parts follow the MSRs.
  private static let hasDebugRegisters: UInt8 = 1, hasExtendedControlRegisters: UInt8 = 2, hasEvents: UInt8 = 4

  /// The state as bytes, in the `.complete` encoding: the core structs; the MSR count (u32) and the MSRs; a
  /// flags byte; then, as flagged, DR0-3/DR6/DR7 (6 × u64), the XCR count (u32) and XCRs (16 bytes each), and
  /// KVM's 64-byte `kvm_vcpu_events`. Integers are little-endian.
  public func serialized() -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(Self.coreSize + 4 + msrs.count * Self.msrEntrySize + 1 + 48 + 4 + 256 + 64)
    withUnsafeBytes(of: registers) { bytes.append(contentsOf: $0) }
    withUnsafeBytes(of: specialRegisters) { bytes.append(contentsOf: $0) }
    withUnsafeBytes(of: fpu) { bytes.append(contentsOf: $0) }
    func append<T: FixedWidthInteger>(_ value: T) {
      withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
    append(UInt32(msrs.count))
    for entry in msrs {
      append(entry.index)
      append(UInt32(0))
      append(entry.value)
    }
    var flags: UInt8 = 0
    if debugRegisters != nil { flags |= Self.hasDebugRegisters }
    if extendedControlRegisters != nil { flags |= Self.hasExtendedControlRegisters }
    if events != nil { flags |= Self.hasEvents }
    append(flags)
    if let debugRegisters {
      for value in debugRegisters.breakpoints + [debugRegisters.status, debugRegisters.control] { append(value) }
    }
    if let extendedControlRegisters {
      append(UInt32(extendedControlRegisters.registers.count))
      for register in extendedControlRegisters.registers {
        append(register.index)
        append(UInt32(0))
        append(register.value)
      }
    }
    if let events { withUnsafeBytes(of: events.raw) { bytes.append(contentsOf: $0) } }
    return bytes
  }

  /// Decodes `serialized()` output of `encoding`; nil when it is malformed: a wrong length, more than
  /// `maximumMSRCount` MSRs (capped at `SavedMSRList.maximumCount`) or XCRs than KVM has, a non-zero reserved
  /// word, an unknown flag. Every count is checked before anything is allocated for it.
  public init?(
    serialized bytes: some Collection<UInt8>, encoding: Encoding, maximumMSRCount: Int = SavedMSRList.maximumCount
  ) {
    var reader = StateReader(Array(bytes))
    guard let registers = reader.take(kvm_regs.self), let specialRegisters = reader.take(kvm_sregs.self),
      let fpu = reader.take(kvm_fpu.self)
    else { return nil }
    self.registers = registers
    self.specialRegisters = specialRegisters
    self.fpu = fpu
    switch encoding {
    case .registersAndTSC:
      guard let tsc = reader.integer(UInt64.self), reader.remaining == 0 else { return nil }
      msrs = [MSREntry(index: SavedMSRList.timeStampCounter, value: tsc)]
    case .complete:
      guard let count = reader.integer(UInt32.self), Int(count) <= min(maximumMSRCount, SavedMSRList.maximumCount),
        reader.remaining >= Int(count) * Self.msrEntrySize
      else { return nil }
      var msrs: [MSREntry] = []
      msrs.reserveCapacity(Int(count))
      for _ in 0..<count {
        guard let index = reader.integer(UInt32.self), reader.integer(UInt32.self) == 0,
          let value = reader.integer(UInt64.self)
        else { return nil }
        msrs.append(MSREntry(index: index, value: value))
      }
      self.msrs = msrs
      let known = Self.hasDebugRegisters | Self.hasExtendedControlRegisters | Self.hasEvents
      guard let flags = reader.integer(UInt8.self), flags & ~known == 0 else { return nil }
      if flags & Self.hasDebugRegisters != 0 {
        var values: [UInt64] = []
        for _ in 0..<6 {
          guard let value = reader.integer(UInt64.self) else { return nil }
          values.append(value)
        }
        debugRegisters = DebugRegisters(breakpoints: Array(values.prefix(4)), status: values[4], control: values[5])
      }
      if flags & Self.hasExtendedControlRegisters != 0 {
        guard let count = reader.integer(UInt32.self), Int(count) <= ExtendedControlRegisters.maximumCount else {
          return nil
        }
        var registers: [NumberedRegister] = []
        for _ in 0..<count {
          guard let index = reader.integer(UInt32.self), reader.integer(UInt32.self) == 0,
            let value = reader.integer(UInt64.self)
          else { return nil }
          registers.append(.init(index: index, value: value))
        }
        extendedControlRegisters = ExtendedControlRegisters(registers: registers)
      }
      if flags & Self.hasEvents != 0 {
        guard let raw = reader.take(kvm_vcpu_events.self) else { return nil }
        events = VCPUEvents(raw: raw)
      }
      guard reader.remaining == 0 else { return nil }
    }
  }
}

/// Bounds-checked reads from a serialized vCPU state; every read returns nil past the end.
private struct StateReader {
  private let bytes: [UInt8]
  private var offset = 0

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  /// Bytes not yet read.
  var remaining: Int { bytes.count - offset }

  /// Reads a plain C struct (any bytes form a valid value).
  mutating func take<T: BitwiseCopyable>(_: T.Type) -> T? {
    let size = MemoryLayout<T>.size
    guard remaining >= size else { return nil }
    defer { offset += size }
    // SAFETY: `size` bytes remain at `offset` (checked above); T is plain data, any bytes are a valid value.
    return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
  }

  /// Reads a little-endian integer.
  mutating func integer<T: FixedWidthInteger & BitwiseCopyable>(_: T.Type) -> T? {
    take(T.self).map { T(littleEndian: $0) }
  }
}
