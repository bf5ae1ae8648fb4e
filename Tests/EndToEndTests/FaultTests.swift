// FaultTests.swift: a faulting guest is stopped with a distinct status and a one-line reason naming the fault and rip.
import Foundation
import Testing

/// One fault kind of the `fault` guest and what denalid must report for it.
struct FaultCase: CustomTestStringConvertible, Sendable {
  let kind: String
  let status: Int32
  let reason: String
  var testDescription: String { kind }
}

@Suite("guest faults")
struct FaultTests {
  static let cases: [FaultCase] = [
    FaultCase(kind: "ud", status: 134, reason: "invalid opcode (#UD)"),
    FaultCase(kind: "privileged", status: 141, reason: "general protection fault (#GP)"),
    FaultCase(kind: "write-outside", status: 142, reason: "page fault (#PF)"),
    FaultCase(kind: "null", status: 142, reason: "address 0x0"),
    FaultCase(kind: "divide", status: 128, reason: "divide error (#DE)"),
    FaultCase(kind: "triple", status: 160, reason: "triple fault"),
    FaultCase(kind: "halt", status: 161, reason: "halted"),
  ]

  @Test("each fault kind stops the guest with its status and reason", arguments: cases)
  func fault(_ fault: FaultCase) throws {
    guard Denalid.ready(guests: ["fault"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("fault"), "--", fault.kind])
    #expect(result.status == fault.status)
    let lines = result.stderr.split(separator: "\n")
    #expect(lines.count == 1, "\(result.stderr)")
    #expect(result.stderr.hasPrefix("denalid: guest fault: "))
    #expect(result.stderr.contains(fault.reason), "\(result.stderr)")
    #expect(result.stderr.contains("rip 0x10"), "the reason names the guest's instruction pointer: \(result.stderr)")
  }

  @Test("the reported rip is the faulting instruction: a ud2 in the image")
  func ripIsTheFaultingInstruction() throws {
    guard Denalid.ready(guests: ["fault"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("fault"), "--", "ud"])
    let rip = try #require(
      result.stderr.split(separator: " ").last.flatMap {
        UInt64($0.dropFirst(2).trimmingCharacters(in: .whitespacesAndNewlines), radix: 16)
      })
    // The two bytes at that address in the image must be ud2 (0f 0b): segments are loaded at their file offset + base.
    let image = try Data(contentsOf: URL(fileURLWithPath: Denalid.guest("fault")))
    let offset = try #require(fileOffset(ofAddress: rip, inELF: [UInt8](image)))
    #expect(image[offset] == 0x0F && image[offset + 1] == 0x0B)
  }

  @Test("an unknown fault kind is the guest's own usage error, not a fault")
  func unknownKind() throws {
    guard Denalid.ready(guests: ["fault"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("fault"), "--", "no-such-kind"])
    #expect(result.status == 2)
    #expect(!result.stderr.contains("guest fault"))
  }
}

/// Maps a virtual address to a file offset through the ELF64 program headers (PT_LOAD only).
func fileOffset(ofAddress address: UInt64, inELF bytes: [UInt8]) -> Int? {
  func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) } }
  func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
  let phoff = Int(u64(32))
  let count = u16(56)
  for index in 0..<count {
    let header = phoff + index * 56
    guard bytes[header] == 1 else { continue }
    let offset = u64(header + 8)
    let vaddr = u64(header + 16)
    let filesz = u64(header + 32)
    if address >= vaddr, address < vaddr + filesz { return Int(offset + (address - vaddr)) }
  }
  return nil
}
