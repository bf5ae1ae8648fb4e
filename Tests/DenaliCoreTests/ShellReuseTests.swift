// ShellReuseTests.swift: machine shells (KVM VM, vCPU, memory) reused by one guest after another leak nothing
// between them: a reused shell's vCPU is a fresh vCPU's, and a guest on a reused shell, or on a shared memory
// template, finds none of the memory another guest wrote.
import Foundation
import KVM
import Testing

@testable import DenaliCore

@Suite("Machine shell reuse", .serialized)
struct ShellReuseTests {
  static let memorySize: UInt64 = 2 << 20

  /// The bytes of a plain C value.
  func bytes<T>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

  /// The MSRs of `state` by index.
  func msrs(_ state: VCPUState) -> [UInt32: UInt64] {
    Dictionary(state.msrs.map { ($0.index, $0.value) }, uniquingKeysWith: { first, _ in first })
  }

  /// Differences between two saved vCPUs, as lines, ignoring the MSRs in `volatile`.
  func differences(_ left: VCPUState, _ right: VCPUState, ignoring volatile: Set<UInt32>) -> [String] {
    var lines: [String] = []
    if bytes(left.registers) != bytes(right.registers) { lines.append("registers") }
    if bytes(left.specialRegisters) != bytes(right.specialRegisters) { lines.append("special registers") }
    if bytes(left.fpu) != bytes(right.fpu) { lines.append("fpu") }
    if left.debugRegisters != right.debugRegisters { lines.append("debug registers") }
    if left.extendedControlRegisters != right.extendedControlRegisters { lines.append("xcrs") }
    if left.events.map({ bytes($0.raw) }) != right.events.map({ bytes($0.raw) }) { lines.append("events") }
    let leftMSRs = msrs(left)
    let rightMSRs = msrs(right)
    for index in Set(leftMSRs.keys).union(rightMSRs.keys).sorted() where !volatile.contains(index) {
      if leftMSRs[index] != rightMSRs[index] {
        lines.append(
          "msr 0x\(String(index, radix: 16)): \(leftMSRs[index].map { String($0, radix: 16) } ?? "-") vs \(rightMSRs[index].map { String($0, radix: 16) } ?? "-")"
        )
      }
    }
    return lines
  }

  @Test("a reused shell's vCPU is a fresh vCPU: nothing the guest before it wrote (MSRs, debug registers) remains")
  func vcpuReset() throws {
    guard let system = try openKVMSystem(), let image = BuiltGuests.image("cpu-state", memorySize: Self.memorySize)
    else { return }
    let pool = ShellPool(system: system, capacity: 1)
    let options = ResidentMachine.shellOptions(system: system, memorySize: Self.memorySize, tracksDirtyPages: true)
    // Two vCPUs nobody ran: what differs between them (the TSC, ...) is not a leak.
    let control = [
      try VCPUState(capturing: try MachineShell(system: system, options: options).vcpu),
      try VCPUState(capturing: try MachineShell(system: system, options: options).vcpu),
    ]
    let volatile = Set(msrs(control[0]).filter { msrs(control[1])[$0.key] != $0.value }.keys)
    #expect(volatile.count <= 4, "fresh vCPUs differ in \(volatile.map { String($0, radix: 16) })")

    // The first guest writes every MSR and debug register it may, and exits.
    let console = SharedConsole()
    var first: GuestVM? = try GuestVM(
      system: system, image: image, configuration: VMConfiguration(memorySize: Self.memorySize, id: 1), resident: false,
      console: console.sink)
    try first?.boot(from: pool)
    #expect(try first?.run() == .exited(status: 0), "\(console.text)")
    let shell = try #require(first?.machineShell)
    let written = try VCPUState(capturing: shell.vcpu)
    #expect(msrs(written)[0xc000_0082] == 0xffff_8000_0000_1000, "the guest set LSTAR")
    #expect(written.debugRegisters?.control != control[0].debugRegisters?.control, "the guest armed DR7")
    #expect(differences(written, control[0], ignoring: volatile).count >= 10, "the guest changed its vCPU")
    first = nil  // its shell goes back to the pool

    // The next guest gets the same shell, reset.
    let next = try pool.take(options)
    #expect(next === shell, "the pool handed out the shell it kept")
    #expect(pool.statistics.reused == 1 && pool.statistics.created == 1, "\(pool.statistics)")
    let reset = try VCPUState(capturing: next.vcpu)
    #expect(differences(reset, control[0], ignoring: volatile) == [], "the reused vCPU differs from a fresh one")
    #expect(try next.machine.kvmClock() < 5_000_000_000, "the KVM clock starts again near zero")
    // Every page reads as the image's template (the memory was discarded: the guest's own copies are gone), and
    // past the template, zero.
    let template = try MemoryTemplate.template(for: image, memorySize: Self.memorySize)
    #expect(next.region.backing == .file(id: template.id, length: template.file.length))
    var expected = [UInt8](repeating: 0, count: Int(Self.memorySize))
    #expect(
      expected.withUnsafeMutableBytes { pread(template.file.fd, $0.baseAddress, Int(template.file.length), 0) }
        == Int(template.file.length))
    let changed = GuestMemory(region: next.region).withAllBytes { all in
      stride(from: 0, to: all.count, by: 4096).filter { page in
        !all[page..<page + 4096].elementsEqual(expected[page..<page + 4096])
      }
    }
    #expect(changed.isEmpty, "pages the old guest wrote are still there: \(changed.map { String($0, radix: 16) })")
  }

  @Test("a guest on a reused shell and a shared template finds none of the memory the guest before it wrote")
  func memoryIsolation() throws {
    guard let system = try openKVMSystem(), let image = BuiltGuests.image("memcheck", memorySize: Self.memorySize)
    else { return }
    let pool = ShellPool(system: system, capacity: 1)
    let console = SharedConsole()
    // Each fills 256 KiB with its own pattern (and writes its cycle count into its .bss page, shared with the
    // template until written); each first checks its memory is all zero and its count 0 (exit 3 otherwise).
    var shells: [ObjectIdentifier] = []
    for id in UInt64(1)...3 {
      let vm = try GuestVM(
        system: system, image: image,
        configuration: VMConfiguration(memorySize: Self.memorySize, arguments: ["1", "0", "256"], id: id),
        resident: false, console: console.sink)
      try vm.boot(from: pool)
      if let shell = vm.machineShell {
        shells.append(ObjectIdentifier(shell))
        #expect(shell.region.backing != .anonymous, "the VM starts from the image's memory template")
      }
      #expect(try vm.run() == .exited(status: 0), "vm \(id): \(console.text)")
    }
    #expect(!console.text.contains("NOT FRESH") && !console.text.contains("MISMATCH"), "\(console.text)")
    #expect(Set(shells).count == 1, "all three ran in one shell")
    #expect(pool.statistics.reused == 2, "\(pool.statistics)")
  }

  @Test("the template is sealed: no write reaches it, and a VM's writes stay its own")
  func templateSealed() throws {
    guard let image = BuiltGuests.image("hello", memorySize: Self.memorySize) else { return }
    let template = try MemoryTemplate.template(for: image, memorySize: Self.memorySize)
    #expect(try MemoryTemplate.template(for: image, memorySize: Self.memorySize) === template, "cached")
    // The same bytes in another array (a later request's copy) find the same template; other bytes do not.
    let copy = try GuestImage(bytes: image.bytes.map { $0 }, memorySize: Self.memorySize)
    #expect(try MemoryTemplate.template(for: copy, memorySize: Self.memorySize) === template, "same bytes, new array")
    #expect(try MemoryTemplate.template(for: image, memorySize: Self.memorySize) === template, "and the first again")
    var changed = image.bytes
    changed.append(0)  // one trailing byte more: the same segments, other bytes
    let other = try GuestImage(bytes: changed, memorySize: Self.memorySize)
    #expect(try MemoryTemplate.template(for: other, memorySize: Self.memorySize) !== template, "other bytes")
    var byte: UInt8 = 0x55
    #expect(pwrite(template.file.fd, &byte, 1, 0x1000) == -1 && errno == EPERM, "a sealed template refuses writes")
    // Two private mappings: a write through one is not seen through the other, nor in the file.
    let first = try MemoryRegion(size: Self.memorySize)
    let second = try MemoryRegion(size: Self.memorySize)
    try first.mapPrivately(template.file, id: template.id)
    try second.mapPrivately(template.file, id: template.id)
    let one = GuestMemory(region: first)
    let two = GuestMemory(region: second)
    let pml4 = try one.read(UInt64.self, at: 0x1000)
    #expect(pml4 != 0, "the template holds the page tables")
    try one.write(UInt64(0xdead_beef), at: 0x1000)
    #expect(try two.read(UInt64.self, at: 0x1000) == pml4)
    var stored: UInt64 = 0
    #expect(pread(template.file.fd, &stored, 8, 0x1000) == 8 && stored == pml4)
    // A different memory size gets a template of its own (its page tables map more memory).
    #expect(try MemoryTemplate.template(for: image, memorySize: 2 * Self.memorySize) !== template)
  }
}
