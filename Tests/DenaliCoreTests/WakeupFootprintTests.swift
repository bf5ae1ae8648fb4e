// WakeupFootprintTests.swift: what the scheduler prefetches before a VM's wake-up: hint addresses of guest memory
// that stop at its end and at its revocation, a bounded list, and an idle VM's list naming its virtual registers.
import DenaliABI
import Foundation
import KVM
import Testing

@testable import DenaliCore

@Suite("Wake-up footprint")
struct WakeupFootprintTests {
  @Test("a hint address is the host address of a guest address inside memory, and 0 outside it or once revoked")
  func hintAddresses() throws {
    let memory = try GuestMemory(size: 64 * 1024)
    let base = memory.hintAddress(of: 0)
    #expect(base != 0)
    #expect(memory.hintAddress(of: 4096) == base + 4096)
    #expect(memory.hintAddress(of: 64 * 1024 - 1) == base + 64 * 1024 - 1)
    #expect(memory.hintAddress(of: 64 * 1024) == 0)
    #expect(memory.hintAddress(of: .max) == 0)
    memory.revoke()
    #expect(memory.hintAddress(of: 0) == 0)
  }

  @Test("the footprint keeps at most its capacity of addresses and never 0")
  func bounded() {
    var footprint = WakeupFootprint()
    footprint.add(0)
    #expect(footprint.addressCount == 0)
    for line in 1...UInt(WakeupFootprint.capacity + 4) { footprint.add(line * WakeupFootprint.lineSize) }
    #expect(footprint.addressCount == WakeupFootprint.capacity)
    #expect(footprint.contains(WakeupFootprint.lineSize + 5))
    #expect(!footprint.contains(UInt(WakeupFootprint.capacity + 1) * WakeupFootprint.lineSize))
    footprint.prefetch()
  }

  @Test("an idle VM's footprint names its object and its virtual registers; one not in memory only its objects")
  func idleVM() throws {
    guard let system = try openKVMSystem(), let idler = BuiltGuests.image("idler") else { return }
    let guest = try GuestVM(
      system: system, image: idler, configuration: VMConfiguration(id: 1), resident: false, console: { _ in })
    // Not in memory: its object, interrupts and control only.
    #expect(guest.wakeupFootprint().addressCount == 5)
    try guest.boot(system: system, swappable: false)
    var end = try guest.runSlice()
    var slices = 1
    while case .yielded = end, slices < 100 {
      end = try guest.runSlice()
      slices += 1
    }
    guard case .idle = end else {
      Issue.record("the idler did not idle: \(end)")
      return
    }
    let footprint = guest.wakeupFootprint()
    #expect(footprint.addressCount >= 16 && footprint.addressCount <= WakeupFootprint.capacity)
    let registers = try #require(guest.residentMemoryForTests).hintAddress(of: UInt64(DENALI_GPA_VREGS))
    #expect(registers != 0 && footprint.contains(registers))
    #expect(footprint.contains(UInt(bitPattern: Unmanaged.passUnretained(guest).toOpaque())))
  }
}
