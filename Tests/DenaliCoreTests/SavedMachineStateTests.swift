// SavedMachineStateTests.swift: the machine state of a swap image: version 3 round-trips (the whole vCPU, the
// KVM clock), version 2 images still load, and malformed or hostile bytes are refused without trapping.
import CKVM
import KVM
import Testing

@testable import DenaliCore

@Suite struct SavedMachineStateTests {
  /// A state captured from a fresh vCPU, with a written MSR.
  func sample() throws -> SavedMachineState? {
    guard let system = try openKVMSystem() else { return nil }
    let vcpu = try system.createVirtualMachine().createVCPU()
    _ = try vcpu.writeMSRs([MSREntry(index: 0xc000_0082, value: 0xffff_8000_0000_1000)])
    return SavedMachineState(
      vcpu: try VCPUState(capturing: vcpu), guestClock: 123_456, idleRequest: (0x10_0040, 5_000_000),
      pendingInterrupts: 4, idle: .until(guestClock: 5_123_456), kvmClock: 987_654_321)
  }

  @Test("version 3 round-trips the vCPU with its MSRs, the clocks, the idle and the pending mask")
  func roundTrip() throws {
    guard let state = try sample() else { return }
    let decoded = try #require(SavedMachineState(encoded: state.encoded()))
    #expect(decoded.vcpu.msrs == state.vcpu.msrs)
    #expect(decoded.vcpu.msrs.contains(MSREntry(index: 0xc000_0082, value: 0xffff_8000_0000_1000)))
    #expect(decoded.guestClock == 123_456 && decoded.kvmClock == 987_654_321)
    #expect(decoded.idleRequest?.address == 0x10_0040 && decoded.idleRequest?.timeout == 5_000_000)
    #expect(decoded.pendingInterrupts == 4 && decoded.idle == .until(guestClock: 5_123_456))
  }

  @Test("a version 2 image (registers, FPU and TSC; no KVM clock) still loads")
  func versionTwo() throws {
    guard let state = try sample() else { return }
    let core = MemoryLayout<kvm_regs>.size + MemoryLayout<kvm_sregs>.size + MemoryLayout<kvm_fpu>.size
    var writer = ByteWriter()
    writer.append(UInt32(2))
    let vcpu = Array(state.vcpu.serialized().prefix(core)) + [1, 0, 0, 0, 0, 0, 0, 0]  // TSC = 1
    writer.append(UInt32(vcpu.count))
    writer.append(bytes: vcpu)
    writer.append(UInt64(77))  // guest clock
    writer.append(UInt8(0))
    writer.append(UInt64(0))
    writer.append(UInt64(0))
    writer.append(UInt64(0))  // pending
    writer.append(UInt8(2))  // idle forever
    writer.append(UInt64(0))
    let decoded = try #require(SavedMachineState(encoded: writer.bytes))
    #expect(decoded.vcpu.msrs == [MSREntry(index: SavedMSRList.timeStampCounter, value: 1)])
    #expect(decoded.guestClock == 77 && decoded.kvmClock == nil && decoded.idle == .forever)
  }

  @Test("malformed states are refused: unknown version, a vCPU length past the end, any truncation, a bad flag")
  func malformed() throws {
    guard let state = try sample() else { return }
    let bytes = state.encoded()
    var version = bytes
    version[0] = 4
    #expect(SavedMachineState(encoded: version) == nil)
    var length = bytes
    length.replaceSubrange(4..<8, with: [0xff, 0xff, 0xff, 0x7f])
    #expect(SavedMachineState(encoded: length) == nil)
    for cut in stride(from: 0, to: bytes.count, by: 13) {
      #expect(SavedMachineState(encoded: Array(bytes.prefix(cut))) == nil, "cut at \(cut)")
    }
    var clockFlag = bytes
    clockFlag[bytes.count - 9] = 2
    #expect(SavedMachineState(encoded: clockFlag) == nil)
    #expect(SavedMachineState(encoded: bytes + [0]) == nil)
  }
}
