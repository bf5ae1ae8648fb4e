// EvilGuestTests.swift: a hostile guest tries every trick; each ends with an error code or a clean stop, never harm.
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
    EvilCase(name: "disk-past-end", status: 0, expected: "evil: disk-past-end: ret -34", flags: ["--disk-size", "64KiB"]),
    EvilCase(name: "disk-block-overflow", status: 0, expected: "ret -34", flags: ["--disk-size", "64KiB"]),
    EvilCase(name: "disk-count-zero", status: 0, expected: "evil: disk-count-zero: ret -22", flags: ["--disk-size", "64KiB"]),
    EvilCase(name: "disk-count-huge", status: 0, expected: "evil: disk-count-huge: ret -22", flags: ["--disk-size", "1MiB"]),
    EvilCase(name: "disk-buffer-outside", status: 0, expected: "evil: disk-buffer-outside: ret -14", flags: ["--disk-size", "64KiB"]),
    EvilCase(name: "net-none", status: 0, expected: "evil: net-none: ret -19"),
    EvilCase(name: "net-oversize", status: 0, expected: "evil: net-oversize: ret -90", flags: ["--network", "10.0.0.0/24"]),
    EvilCase(name: "net-undersize", status: 0, expected: "evil: net-undersize: ret -90", flags: ["--network", "10.0.0.0/24"]),
    EvilCase(name: "net-buffer-outside", status: 0, expected: "evil: net-buffer-outside: ret -14", flags: ["--network", "10.0.0.0/24"]),
    EvilCase(name: "net-recv-outside", status: 0, expected: "evil: net-recv-outside: ret -14", flags: ["--network", "10.0.0.0/24"]),
    EvilCase(name: "net-recv-empty", status: 0, expected: "evil: net-recv-empty: ret -11", flags: ["--network", "10.0.0.0/24"]),
    EvilCase(name: "net-garbage", status: 0, expected: "dropped 20 (malformed 10, unsupported-protocol 10)",
             flags: ["--network", "10.0.0.0/24", "--net-stats"]),
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

  @Test("writing to a read-only disk returns EROFS and leaves the file untouched")
  func readOnlyDisk() throws {
    guard Denalid.ready(guests: ["evil"]) else { return }
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("denali-ro-\(UUID().uuidString)").path
    let original = Data((0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 31) })
    FileManager.default.createFile(atPath: path, contents: original)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let result = try Denalid.run(["run", Denalid.guest("evil"), "--disk", path, "--disk-readonly", "--", "disk-write-readonly"])
    #expect(result.status == 0)
    #expect(result.stdout.contains("evil: disk-write-readonly: ret -30"), "\(result.stdout)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == original)
  }
}
