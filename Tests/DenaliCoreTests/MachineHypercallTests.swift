// MachineHypercallTests.swift: the machine's own hypercalls beside terminate: nop and idle dispatch.
import DenaliABI
import KVM
import Testing

@testable import DenaliCore

@Suite("machine hypercalls")
struct MachineHypercallTests {
  @Test("nop writes ret = 0 and resumes")
  func nop() throws {
    let memory = try GuestMemory(size: 2 << 20)
    try memory.write(Int64(-99), at: 0x10_0000)
    #expect(
      HypercallTable().dispatch(number: UInt16(DENALI_HC_NOP), structAddress: 0x10_0000, memory: memory) == .resume)
    #expect(try memory.read(Int64.self, at: 0x10_0000) == 0)
  }

  @Test("idle hands its timeout to the VM, which does the waiting", arguments: [UInt64(0), 1_000_000, UInt64.max])
  func idle(timeout: UInt64) throws {
    let memory = try GuestMemory(size: 2 << 20)
    var call = denali_hc_idle()
    call.timeout_ns = timeout
    try memory.store(call, at: 0x10_0000)
    let disposition = HypercallTable().dispatch(
      number: UInt16(DENALI_HC_IDLE), structAddress: 0x10_0000, memory: memory)
    #expect(disposition == .idle(timeoutNanoseconds: timeout))
  }
}
