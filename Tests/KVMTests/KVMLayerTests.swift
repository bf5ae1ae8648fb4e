// KVMLayerTests.swift: the KVM layer against the real /dev/kvm, with hand-assembled real-mode guests.
import Foundation
import KVM
import Testing

/// Opens /dev/kvm, or returns nil (and the test is skipped) outside CI when it is missing.
func openKVM() throws -> KVMSystem? {
  if !FileManager.default.fileExists(atPath: "/dev/kvm") {
    if ProcessInfo.processInfo.environment["CI"] == "true" {
      Issue.record("/dev/kvm is missing, and CI requires it")
    } else {
      print("skipping: /dev/kvm is not available on this machine")
    }
    return nil
  }
  return try KVMSystem()
}

/// A VM with 64 KiB of memory holding `code` at 0x1000, its vCPU in real mode at that code.
func realModeGuest(_ system: KVMSystem, code: [UInt8]) throws -> (VirtualMachine, GuestMemory, VCPU) {
  let vm = try system.createVirtualMachine()
  let memory = try GuestMemory(size: 0x10000)
  try memory.write(code, at: 0x1000)
  try vm.mapMemory(memory, at: 0)
  let vcpu = try vm.createVCPU()
  var sregs = try vcpu.specialRegisters()
  var cs = sregs.cs
  cs.base = 0
  cs.selector = 0
  sregs.cs = cs
  try vcpu.setSpecialRegisters(sregs)
  var regs = Registers()
  regs.rip = 0x1000
  regs.rflags = 0x2
  try vcpu.setRegisters(regs)
  return (vm, memory, vcpu)
}

@Suite("KVM layer")
struct KVMLayerTests {
  @Test("an OUT instruction exits with its port, size and value, then HLT exits")
  func portOutputThenHalt() throws {
    guard let system = try openKVM() else { return }
    // mov al, 0x42 ; out 0x10, al ; mov ax, 0x1234 ; mov dx, 0x3f8 ; out dx, ax ; hlt
    let code: [UInt8] = [0xB0, 0x42, 0xE6, 0x10, 0xB8, 0x34, 0x12, 0xBA, 0xF8, 0x03, 0xEF, 0xF4]
    let (_, _, vcpu) = try realModeGuest(system, code: code)
    #expect(try vcpu.run() == .io(IOExit(port: 0x10, size: 1, direction: .output, count: 1)))
    #expect(vcpu.outputValue() == 0x42)
    #expect(try vcpu.run() == .io(IOExit(port: 0x3F8, size: 2, direction: .output, count: 1)))
    #expect(vcpu.outputValue() == 0x1234)
    #expect(try vcpu.run() == .halt)
  }

  @Test("IN data supplied by the host reaches the guest's register")
  func portInput() throws {
    guard let system = try openKVM() else { return }
    // in al, 0x20 ; out 0x21, al ; hlt
    let (_, _, vcpu) = try realModeGuest(system, code: [0xE4, 0x20, 0xE6, 0x21, 0xF4])
    let first = try vcpu.run()
    #expect(first == .io(IOExit(port: 0x20, size: 1, direction: .input, count: 1)))
    vcpu.completeInput(filling: 0x5A)
    #expect(try vcpu.run() == .io(IOExit(port: 0x21, size: 1, direction: .output, count: 1)))
    #expect(vcpu.outputValue() == 0x5A)
  }

  @Test("a write to unbacked guest-physical memory is an MMIO exit with its address")
  func mmioExit() throws {
    guard let system = try openKVM() else { return }
    // mov ax, 0x2000 ; mov ds, ax ; mov byte [0], 0x7 ; hlt   -> linear 0x20000, beyond 64 KiB
    let code: [UInt8] = [0xB8, 0x00, 0x20, 0x8E, 0xD8, 0xC6, 0x06, 0x00, 0x00, 0x07, 0xF4]
    let (_, _, vcpu) = try realModeGuest(system, code: code)
    #expect(try vcpu.run() == .mmio(MMIOExit(address: 0x20000, length: 1, isWrite: true)))
  }

  @Test("guest writes are visible through GuestMemory and registers round-trip")
  func memoryAndRegisters() throws {
    guard let system = try openKVM() else { return }
    // mov word [0x3000], 0xBEEF ; hlt
    let (_, memory, vcpu) = try realModeGuest(system, code: [0xC7, 0x06, 0x00, 0x30, 0xEF, 0xBE, 0xF4])
    #expect(try vcpu.run() == .halt)
    #expect(try memory.read(UInt16.self, at: 0x3000) == 0xBEEF)
    let regs = try vcpu.registers()
    #expect(regs.rip == 0x1007)
    var changed = regs
    changed.rbx = 0xDEAD_BEEF
    try vcpu.setRegisters(changed)
    #expect(try vcpu.registers().rbx == 0xDEAD_BEEF)
  }

  @Test("GuestMemory refuses accesses outside memory and wrapping ranges")
  func memoryBounds() throws {
    let memory = try GuestMemory(size: 0x2000)
    #expect(memory.contains(address: 0x1FFF, length: 1))
    #expect(!memory.contains(address: 0x1FFF, length: 2))
    #expect(!memory.contains(address: UInt64.max, length: 2))
    #expect(throws: GuestMemoryError.self) { try memory.read(UInt64.self, at: 0x1FFC) }
    #expect(throws: GuestMemoryError.self) { try memory.write([1, 2, 3], at: UInt64.max - 1) }
    #expect(throws: KVMError.self) { try GuestMemory(size: 100) }
  }

  @Test("a kick from another thread ends a guest spinning forever")
  func kickEndsSpinningGuest() async throws {
    guard try openKVM() != nil else { return }
    // The run watchdog would kick the spinning vCPU too, at its second sweep (~200 ms): it must not win the race
    // with the kick this test sends at 200 ms.
    let system = try KVMSystem(runWatchdogPeriod: .seconds(60))
    let (_, _, vcpu) = try realModeGuest(system, code: [0xEB, 0xFE])  // jmp $
    let kicker = vcpu.kicker
    let start = ContinuousClock.now
    let thread = Thread {
      Thread.sleep(forTimeInterval: 0.2)
      kicker.requestExit()
    }
    thread.start()
    #expect(try vcpu.run() == .interrupted)
    #expect(ContinuousClock.now - start >= .milliseconds(150))
    #expect(try vcpu.registers().rip == 0x1000)
  }

  @Test("errors name the ioctl and errno")
  func errorNamesIoctl() throws {
    guard let system = try openKVM() else { return }
    let vm = try system.createVirtualMachine()
    _ = try vm.createVCPU(id: 0)
    let error = #expect(throws: KVMError.self) { try vm.createVCPU(id: 0) }
    #expect(error?.operation == "KVM_CREATE_VCPU")
    #expect(error?.description.contains("errno \(EEXIST)") == true)
  }
}

@Suite("KVM layer: descriptors")
struct KVMDescriptorTests {
  @Test("a vCPU keeps running after its VM descriptor is released")
  func vcpuOutlivesVMDescriptor() throws {
    guard let system = try openKVM() else { return }
    // mov al, 0x42 ; out 0x10, al ; hlt
    let (vm, memory, vcpu) = try realModeGuest(system, code: [0xB0, 0x42, 0xE6, 0x10, 0xF4])
    let descriptor = vm.fd
    vm.releaseDescriptor()
    #expect(vm.fd == -1)
    #expect(fcntl(descriptor, F_GETFD) == -1, "the VM descriptor is closed")
    #expect(try vcpu.run() == .io(IOExit(port: 0x10, size: 1, direction: .output, count: 1)))
    #expect(vcpu.outputValue() == 0x42)
    #expect(try vcpu.run() == .halt)
    #expect(throws: KVMError.self) { try vm.createVCPU(id: 1) }
    _ = memory
  }
}

@Suite("KVM layer: kicks")
struct KVMKickTests {
  @Test("a kick requested before KVM_RUN makes that run return at once")
  func kickBeforeRun() throws {
    guard let system = try openKVM() else { return }
    let (_, _, vcpu) = try realModeGuest(system, code: [0xEB, 0xFE])  // jmp $
    vcpu.kicker.requestExit()
    let start = ContinuousClock.now
    #expect(try vcpu.run() == .interrupted)
    #expect(ContinuousClock.now - start < .seconds(1))
  }
}
