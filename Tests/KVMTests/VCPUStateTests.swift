import CKVM
// VCPUStateTests.swift: a vCPU's whole state (MSRs, debug registers, XCRs, events) moves to a fresh vCPU, and
// its serialized form survives a round trip and refuses malformed bytes.
import Foundation
import KVM
import Testing

@Suite("vCPU state")
struct VCPUStateTests {
  /// MSRs a guest can write, with values that differ from KVM's reset values.
  static let written: [MSREntry] = [
    MSREntry(index: 0x174, value: 0x10), MSREntry(index: 0x175, value: 0xffff_8000_1234_5000),
    MSREntry(index: 0x176, value: 0xffff_8000_1234_6000), MSREntry(index: 0xc000_0081, value: 0x0023_0010_0000_0000),
    MSREntry(index: 0xc000_0082, value: 0xffff_8000_0000_1000),
    MSREntry(index: 0xc000_0083, value: 0xffff_8000_0000_2000),
    MSREntry(index: 0xc000_0084, value: 0x4700), MSREntry(index: 0xc000_0102, value: 0xffff_8000_dead_b000),
    MSREntry(index: 0x277, value: 0x0001_0504_0007_0406), MSREntry(index: 0x2ff, value: 0xc06),
    MSREntry(index: 0x250, value: 0x0606_0606_0606_0606),
  ]

  @Test("the saved MSR list holds the guest-writable MSRs, listed by KVM or not, no duplicates, and the TSC last")
  func savedList() throws {
    guard let system = try openKVM() else { return }
    let list = system.savedMSRs
    #expect(!(try system.msrIndexList()).isEmpty)
    for entry in Self.written { #expect(list.contains(entry.index), "0x\(String(entry.index, radix: 16))") }
    // The special registers carry these.
    for index: UInt32 in [0xc000_0080, 0xc000_0100, 0xc000_0101, 0x1b] { #expect(!list.contains(index)) }
    #expect(Set(list.indices).count == list.indices.count)
    #expect(list.indices.last == SavedMSRList.timeStampCounter)
    #expect(list.indices.count <= SavedMSRList.maximumCount)
  }

  @Test("MSRs and debug registers written into one vCPU are found in a fresh one after capture and restore")
  func moveToFreshVCPU() throws {
    guard let system = try openKVM() else { return }
    let (_, _, source) = try realModeGuest(system, code: [0xF4])
    #expect(try source.writeMSRs(Self.written).isEmpty)
    let debug = DebugRegisters(
      breakpoints: [0x7fff_0000_1000, 0x7fff_0000_2008, 0x7fff_0000_3010, 0x7fff_0000_4018],
      status: 0xffff_0ff1, control: 0xdddd_0755)
    if system.features.debugRegisters { try source.setDebugRegisters(debug) }
    let state = try VCPUState(capturing: source)
    let (_, _, target) = try realModeGuest(system, code: [0xF4])
    let skipped = try state.restore(into: target)
    #expect(
      skipped.isEmpty,
      "nothing skipped on the same KVM: \(skipped.map { String($0.index, radix: 16) + "=" + String($0.value, radix: 16) })"
    )
    #expect(try target.readMSRs(Self.written.map(\.index)) == Self.written)
    if system.features.debugRegisters { #expect(try target.debugRegisters() == debug) }
    let copy = try VCPUState(capturing: target)
    #expect(
      copy.msrs.filter { $0.index != SavedMSRList.timeStampCounter }
        == state.msrs.filter { $0.index != SavedMSRList.timeStampCounter })
  }
}

@Suite("vCPU state encoding")
struct VCPUStateEncodingTests {
  /// A state captured from a fresh real-mode vCPU whose MSRs and debug registers were set.
  func sample(_ system: KVMSystem) throws -> VCPUState {
    let (_, _, vcpu) = try realModeGuest(system, code: [0xF4])
    _ = try vcpu.writeMSRs(VCPUStateTests.written)
    return try VCPUState(capturing: vcpu)
  }

  @Test("the complete encoding round-trips every part")
  func roundTrip() throws {
    guard let system = try openKVM() else { return }
    let state = try sample(system)
    let bytes = state.serialized()
    let decoded = try #require(VCPUState(serialized: bytes, encoding: .complete))
    #expect(decoded.msrs == state.msrs)
    #expect(decoded.debugRegisters == state.debugRegisters)
    #expect(decoded.extendedControlRegisters == state.extendedControlRegisters)
    #expect(decoded.serialized() == bytes)
    #expect(decoded.timeStampCounter == state.timeStampCounter)
  }

  @Test("an image of the older encoding (registers, FPU, TSC) still decodes, with the TSC as its only MSR")
  func olderEncoding() throws {
    guard let system = try openKVM() else { return }
    let state = try sample(system)
    let core = MemoryLayout<kvm_regs>.size + MemoryLayout<kvm_sregs>.size + MemoryLayout<kvm_fpu>.size
    let tsc: UInt64 = 0x1234_5678
    let old = Array(state.serialized().prefix(core)) + withUnsafeBytes(of: tsc.littleEndian) { Array($0) }
    let decoded = try #require(VCPUState(serialized: old, encoding: .registersAndTSC))
    #expect(decoded.msrs == [MSREntry(index: SavedMSRList.timeStampCounter, value: tsc)])
    #expect(decoded.debugRegisters == nil && decoded.events == nil && decoded.extendedControlRegisters == nil)
    #expect(VCPUState(serialized: old + [0], encoding: .registersAndTSC) == nil)
  }

  @Test("malformed bytes are refused: every truncation, a huge MSR count, an unknown flag, a reserved word, a tail")
  func malformed() throws {
    guard let system = try openKVM() else { return }
    let bytes = try sample(system).serialized()
    for length in stride(from: 0, to: bytes.count, by: 7) {
      #expect(VCPUState(serialized: bytes.prefix(length), encoding: .complete) == nil, "truncated to \(length)")
    }
    #expect(VCPUState(serialized: bytes + [0], encoding: .complete) == nil)
    let core = MemoryLayout<kvm_regs>.size + MemoryLayout<kvm_sregs>.size + MemoryLayout<kvm_fpu>.size
    var huge = bytes
    huge.replaceSubrange(core..<(core + 4), with: [0xff, 0xff, 0xff, 0xff])
    #expect(VCPUState(serialized: huge, encoding: .complete) == nil)
    let count = Int(bytes[core]) | Int(bytes[core + 1]) << 8
    #expect(VCPUState(serialized: bytes, encoding: .complete, maximumMSRCount: count - 1) == nil)
    var reserved = bytes
    reserved[core + 4 + 4] = 1  // the zero word after the first MSR's index
    #expect(VCPUState(serialized: reserved, encoding: .complete) == nil)
    var flags = bytes
    flags[core + 4 + 16 * count] |= 0x80
    #expect(VCPUState(serialized: flags, encoding: .complete) == nil)
  }
}
