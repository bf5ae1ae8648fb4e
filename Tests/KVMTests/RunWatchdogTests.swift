// RunWatchdogTests.swift: the run watchdog ends a KVM_RUN that lasts a whole period (.longRun), an owner's
// request still reads as .interrupted, and single-stepping reports each completed instruction (.debug).
import Foundation
import KVM
import Testing

@Suite("KVM layer: run watchdog and single-step")
struct RunWatchdogTests {
  @Test("a guest that never exits is kicked out of KVM_RUN by the watchdog, again and again, as .longRun")
  func longRun() throws {
    guard FileManager.default.fileExists(atPath: "/dev/kvm") else { return }
    let system = try KVMSystem(runWatchdogPeriod: .milliseconds(20))
    // 1: jmp 1b
    let (_, _, vcpu) = try realModeGuest(system, code: [0xEB, 0xFE])
    for _ in 0..<3 {
      let started = ContinuousClock.now
      #expect(try vcpu.run() == .longRun)
      // One to two periods; generous for a loaded machine.
      #expect(ContinuousClock.now - started < .seconds(5))
    }
    #expect(try vcpu.registers().rip == 0x1000, "the guest is still in its loop")
  }

  @Test("the watchdog's table follows vCPUs as they come and go: past its first chunk, and in a reused slot")
  func tableFollowsVCPUs() throws {
    guard FileManager.default.fileExists(atPath: "/dev/kvm") else { return }
    let system = try KVMSystem(runWatchdogPeriod: .milliseconds(20))
    // 1,100 vCPUs (the table's chunks hold 1,024 words): the last one's slot is in the second chunk.
    var spare: [VCPU] = []
    for _ in 0..<3 {
      let vm = try system.createVirtualMachine()
      for id in 0..<(spare.count < 1_000 ? 500 : 99) { spare.append(try vm.createVCPU(id: UInt32(id))) }
    }
    let (_, _, beyondFirstChunk) = try realModeGuest(system, code: [0xEB, 0xFE])
    // An unwatched vCPU would loop for ever: an owner's request ends the run after 10 s instead (.interrupted).
    let kicker = beyondFirstChunk.kicker
    DispatchQueue.global().asyncAfter(deadline: .now() + 10) { kicker.requestExit() }
    #expect(try beyondFirstChunk.run() == .longRun, "a vCPU in the second chunk is watched")
    // Free slots, then take one again: the new vCPU is watched in the reused slot.
    spare.removeLast(100)
    let (_, _, reused) = try realModeGuest(system, code: [0xEB, 0xFE])
    let reusedKicker = reused.kicker
    DispatchQueue.global().asyncAfter(deadline: .now() + 10) { reusedKicker.requestExit() }
    let started = ContinuousClock.now
    #expect(try reused.run() == .longRun, "a vCPU in a reused slot is watched")
    #expect(ContinuousClock.now - started < .seconds(5))
    #expect(spare.count == 999)
  }

  @Test("an owner's requestExit reads as .interrupted; the next run that lasts a period as .longRun")
  func ownerRequestWins() throws {
    guard FileManager.default.fileExists(atPath: "/dev/kvm") else { return }
    let system = try KVMSystem(runWatchdogPeriod: .milliseconds(20))
    let (_, _, vcpu) = try realModeGuest(system, code: [0xEB, 0xFE])
    vcpu.kicker.requestExit()
    #expect(try vcpu.run() == .interrupted)
    #expect(try vcpu.run() == .longRun, "the request was taken by the run it ended")
  }

  @Test("with single-stepping on, each instruction ends KVM_RUN with .debug; off again, the guest runs on")
  func singleStep() throws {
    guard let system = try openKVM() else { return }
    // nop ; nop ; out 0x10, al ; hlt
    let (_, _, vcpu) = try realModeGuest(system, code: [0x90, 0x90, 0xE6, 0x10, 0xF4])
    try vcpu.setSingleStep(true)
    #expect(try vcpu.run() == .debug)
    #expect(try vcpu.registers().rip == 0x1001)
    #expect(try vcpu.run() == .debug)
    #expect(try vcpu.registers().rip == 0x1002)
    try vcpu.setSingleStep(false)
    #expect(try vcpu.run() == .io(IOExit(port: 0x10, size: 1, direction: .output, count: 1)))
    #expect(vcpu.outputValue() == 0)
    #expect(try vcpu.run() == .halt)
  }

  @Test("the registers KVM syncs into kvm_run at an exit equal the ones the ioctls read")
  func syncedRegisters() throws {
    guard let system = try openKVM(), system.features.registerSync else { return }
    let (_, _, vcpu) = try realModeGuest(system, code: [0xB0, 0x42, 0xE6, 0x10, 0xF4])
    vcpu.enableRegisterSync()
    #expect(try vcpu.run() == .io(IOExit(port: 0x10, size: 1, direction: .output, count: 1)))
    #expect(vcpu.outputValue() == 0x42)
    #expect(vcpu.syncedRegisters() == (try vcpu.registers()))
    #expect(vcpu.syncedSpecialRegisters().cr0 == (try vcpu.specialRegisters()).cr0)
    #expect(vcpu.syncedSpecialRegisters().cs == (try vcpu.specialRegisters()).cs)
  }
}
