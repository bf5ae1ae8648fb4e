// EvilGuestTests.swift: a hostile guest tries every trick; each ends with an error code or a clean stop, never harm.
// The network cases give `denalid run` a private subnet with no uplink: their frames stay on the run's own
// in-process virtual switch (VirtualSwitch), between its VMs; nothing reaches a host interface.
import Foundation
import Testing

/// One `evil` case and the outcome the host must produce.
struct EvilCase: CustomTestStringConvertible, Sendable {
  /// The case name passed to the guest.
  let name: String
  /// The exit status denalid must report.
  let status: Int32
  /// Text the output must contain: the guest's printed ret, or the host's fault reason on stderr.
  let expected: String
  /// Extra denalid flags (disks, timeouts).
  var flags: [String] = []
  var testDescription: String { name }
}

@Suite("hostile guest containment")
struct EvilGuestTests {
  static let cases: [EvilCase] = [
    EvilCase(name: "hc-struct-outside", status: 165, expected: "outside guest memory or misaligned"),
    EvilCase(name: "hc-struct-misaligned", status: 165, expected: "outside guest memory or misaligned"),
    EvilCase(name: "hc-data-outside", status: 0, expected: "evil: hc-data-outside: ret -14"),
    EvilCase(name: "hc-length-overflow", status: 0, expected: "evil: hc-length-overflow: ret -22"),
    EvilCase(name: "hc-pointer-wrap", status: 0, expected: "evil: hc-pointer-wrap: ret -14"),
    EvilCase(name: "hc-unknown", status: 0, expected: "evil: hc-unknown: ret -38"),
    EvilCase(name: "io-out-byte", status: 164, expected: "port I/O that is not a hypercall (out port 0x501, 1 bytes"),
    EvilCase(name: "io-out-word", status: 164, expected: "port I/O that is not a hypercall (out port 0x501, 2 bytes"),
    EvilCase(name: "io-in-hypercall", status: 164, expected: "port I/O that is not a hypercall (in port 0x501"),
    EvilCase(name: "io-other-port", status: 164, expected: "(out port 0x80"),
    EvilCase(name: "mmio-read", status: 163, expected: "read outside guest memory"),
    EvilCase(name: "mmio-write", status: 163, expected: "write outside guest memory"),
    EvilCase(name: "rdmsr", status: 141, expected: "general protection fault (#GP)"),
    EvilCase(name: "wrmsr", status: 141, expected: "general protection fault (#GP)"),
    EvilCase(name: "hlt", status: 161, expected: "halted"),
    EvilCase(name: "triple", status: 160, expected: "triple fault"),
    EvilCase(name: "trap-port", status: 164, expected: "(out port 0x5ff, 4 bytes x 1) at rip 0x10"),
    EvilCase(name: "idle-zero", status: 0, expected: "evil: idle-zero: ret 0"),
    EvilCase(name: "idle-forever", status: 124, expected: "timeout", flags: ["--timeout", "1s"]),
    EvilCase(name: "idle-huge", status: 124, expected: "timeout", flags: ["--timeout", "1s"]),
    EvilCase(name: "disk-none", status: 0, expected: "evil: disk-none: ret -19"),
    EvilCase(
      name: "disk-past-end", status: 0, expected: "evil: disk-past-end: ret -34", flags: ["--disk-size", "64KiB"]),
    EvilCase(name: "disk-block-overflow", status: 0, expected: "ret -34", flags: ["--disk-size", "64KiB"]),
    EvilCase(
      name: "disk-count-zero", status: 0, expected: "evil: disk-count-zero: ret -22", flags: ["--disk-size", "64KiB"]),
    EvilCase(
      name: "disk-count-huge", status: 0, expected: "evil: disk-count-huge: ret -22", flags: ["--disk-size", "1MiB"]),
    EvilCase(
      name: "disk-buffer-outside", status: 0, expected: "evil: disk-buffer-outside: ret -14",
      flags: ["--disk-size", "64KiB"]),
    EvilCase(name: "net-none", status: 0, expected: "evil: net-none: ret -19"),
    EvilCase(
      name: "net-oversize", status: 0, expected: "evil: net-oversize: ret -90", flags: ["--network", "10.0.0.0/24"]),
    EvilCase(
      name: "net-undersize", status: 0, expected: "evil: net-undersize: ret -90", flags: ["--network", "10.0.0.0/24"]),
    EvilCase(
      name: "net-buffer-outside", status: 0, expected: "evil: net-buffer-outside: ret -14",
      flags: ["--network", "10.0.0.0/24"]),
    EvilCase(
      name: "net-recv-outside", status: 0, expected: "evil: net-recv-outside: ret -14",
      flags: ["--network", "10.0.0.0/24"]),
    EvilCase(
      name: "net-recv-empty", status: 0, expected: "evil: net-recv-empty: ret -11", flags: ["--network", "10.0.0.0/24"]),
    EvilCase(
      name: "net-garbage", status: 0, expected: "dropped 20 (malformed 10, unsupported-protocol 10)",
      flags: ["--network", "10.0.0.0/24", "--net-stats"]),
    // String port I/O on a hypercall port is not a hypercall, whatever its count (KVM reports each element alone).
    EvilCase(
      name: "io-rep-outs", status: 164, expected: "port I/O that is not a hypercall (out port 0x500, 4 bytes x 1)"),
    EvilCase(name: "io-outs", status: 164, expected: "port I/O that is not a hypercall (out port 0x500, 4 bytes x 1)"),
    EvilCase(
      name: "io-rep-ins", status: 164, expected: "port I/O that is not a hypercall (in port 0x500, 4 bytes x 3)"),
    EvilCase(name: "io-out-then-rep-outs", status: 164, expected: "port I/O that is not a hypercall (out port 0x500"),
    // Descriptor loads from guest-physical memory no slot backs: KVM either exits (operand reads: 163) or
    // retries forever, which the host notices and stops (167) long before the timeout.
    EvilCase(
      name: "lgdt-unbacked", status: 163, expected: "read outside guest memory at address 0x40000000",
      flags: ["--timeout", "20s"]),
    EvilCase(
      name: "lidt-unbacked", status: 163, expected: "read outside guest memory at address 0x40000000",
      flags: ["--timeout", "20s"]),
    EvilCase(name: "segment-unbacked", status: 167, expected: "retries forever", flags: ["--timeout", "20s"]),
    EvilCase(name: "ltr-unbacked", status: 167, expected: "retries forever", flags: ["--timeout", "20s"]),
    EvilCase(name: "lldt-unbacked", status: 167, expected: "retries forever", flags: ["--timeout", "20s"]),
    EvilCase(name: "idt-unbacked", status: 160, expected: "triple fault", flags: ["--timeout", "20s"]),
    // Loops whose registers repeat but which complete every instruction are never taken for stuck ones.
    EvilCase(name: "loop-jump-self", status: 124, expected: "timeout", flags: ["--timeout", "2s"]),
    EvilCase(name: "loop-segment-load", status: 124, expected: "timeout", flags: ["--timeout", "2s"]),
    // The host-owned virtual registers come back after a guest overwrote them (ret = the fields that did not).
    EvilCase(name: "vregs-write", status: 0, expected: "evil: vregs-write: ret 0"),
  ]

  @Test("each hostile case gets an error code or a clean stop with a reason", arguments: cases)
  func hostileCase(_ evil: EvilCase) throws {
    guard Denalid.ready(guests: ["evil"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("evil")] + evil.flags + ["--", evil.name], limit: .seconds(30))
    #expect(result.status == evil.status, "\(evil.name): stdout \(result.stdout) stderr \(result.stderr)")
    #expect((result.stdout + result.stderr).contains(evil.expected), "\(evil.name): \(result.stdout) \(result.stderr)")
    if evil.status >= 160 || (evil.status >= 128 && evil.status < 160) {
      #expect(result.stderr.contains("rip 0x") || result.stderr.contains("hardware reason"), "\(result.stderr)")
    }
  }

  @Test("page-table escape beyond guest memory stops the guest (MMIO or page fault), nothing else")
  func pageTableEscape() throws {
    guard Denalid.ready(guests: ["evil"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("evil"), "--", "pagetable-escape"], limit: .seconds(30))
    #expect([163, 142].contains(result.status), "\(result.stderr)")
    #expect(result.stderr.hasPrefix("denalid: guest fault: "))
  }

  @Test("SSE is refused by this host's emulator or the CPU, and only the guest stops")
  func sse() throws {
    guard Denalid.ready(guests: ["evil"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("evil"), "--", "sse"], limit: .seconds(30))
    #expect([162, 134].contains(result.status), "\(result.stderr)")
  }

  @Test(
    "vmcall and vmmcall are not hypercalls: #UD where KVM emulates the guest; never a spin inside KVM",
    arguments: ["vmcall", "vmmcall"])
  func kvmHypercallInstruction(_ name: String) throws {
    guard Denalid.ready(guests: ["evil"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("evil"), "--timeout", "20s", "--", name], limit: .seconds(30))
    // Where KVM runs the guest on hardware virtualization, the CPU vendor's own instruction reaches KVM's
    // hypercall handler, which answers it (-1000, KVM_ENOSYS, in RAX) and the guest goes on (Docs/ABI.md).
    let answeredByKVM = result.status == 1 && result.stdout.contains("evil: \(name): not stopped")
    #expect(result.status == 134 || answeredByKVM, "\(name): \(result.stdout) \(result.stderr)")
    if result.status == 134 { #expect(result.stderr.contains("invalid opcode (#UD)"), "\(result.stderr)") }
  }

  @Test("writing to a read-only disk returns EROFS and leaves the file untouched")
  func readOnlyDisk() throws {
    guard Denalid.ready(guests: ["evil"]) else { return }
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("denali-ro-\(UUID().uuidString)").path
    let original = Data((0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 31) })
    FileManager.default.createFile(atPath: path, contents: original)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let result = try Denalid.run([
      "run", Denalid.guest("evil"), "--disk", path, "--disk-readonly", "--", "disk-write-readonly",
    ])
    #expect(result.status == 0)
    #expect(result.stdout.contains("evil: disk-write-readonly: ret -30"), "\(result.stdout)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == original)
  }
}
