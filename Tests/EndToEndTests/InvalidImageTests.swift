// InvalidImageTests.swift: files that are not valid guest images give status 2 and a clear message, never a crash or hang.
import Foundation
import Testing

@Suite("invalid guest images")
struct InvalidImageTests {
  /// A fresh temporary directory, removed by the caller.
  static func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("denali-e2e-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @Test("malformed files are refused with status 2 and a message naming the file")
  func malformedFiles() throws {
    guard Denalid.ready() else { return }
    let directory = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let hello = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Denalid.guest("hello"))))
    var wrongMachine = hello
    wrongMachine[18] = 0x03  // EM_386
    var dynamic = hello
    dynamic[16] = 0x03  // ET_DYN
    var badEntry = hello
    for index in 24..<32 { badEntry[index] = 0 }  // entry 0: not in an executable segment
    let files: [(String, [UInt8], String)] = [
      ("empty", [], "empty"),
      ("text", Array("just some text\n".utf8), "truncated"),
      ("garbage", (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) }, "not an ELF"),
      ("truncated", Array(hello.prefix(200)), "truncated"),
      ("wrong-machine", wrongMachine, "x86-64"),
      ("dynamic", dynamic, "ET_DYN"),
      ("bad-entry", badEntry, "entry point"),
    ]
    for (name, bytes, expected) in files {
      let path = directory.appendingPathComponent(name).path
      FileManager.default.createFile(atPath: path, contents: Data(bytes))
      let result = try Denalid.run(["run", path], limit: .seconds(20))
      #expect(result.status == 2, "\(name): \(result.stderr)")
      #expect(
        result.stderr.contains(path) && result.stderr.contains("not a valid guest image"), "\(name): \(result.stderr)")
      #expect(result.stderr.contains(expected), "\(name): \(result.stderr)")
      #expect(result.stdout == "")
    }
  }

  @Test("a directory, a missing file and /dev/zero are refused with status 2")
  func notRegularFiles() throws {
    guard Denalid.ready() else { return }
    for path in ["/tmp", "/nonexistent/guest.elf", "/dev/zero"] {
      let result = try Denalid.run(["run", path], limit: .seconds(20))
      #expect(result.status == 2, "\(path): \(result.stderr)")
      #expect(result.stderr.contains("not a valid guest image"))
    }
  }

  @Test("an image too big for the requested memory is refused with status 2")
  func imageBeyondMemory() throws {
    guard Denalid.ready() else { return }
    // hello is linked at 1 MiB; with 2 MiB of memory it fits, so check the bound with a bss-heavy file instead:
    // take hello and grow its last segment's memory size past 2 MiB.
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Denalid.guest("hello"))))
    let phoff = Int(bytes[32]) | Int(bytes[33]) << 8
    let count = Int(bytes[56])
    let last = phoff + (count - 1) * 56
    var header = last
    for index in 0..<count where bytes[phoff + index * 56] == 1 { header = phoff + index * 56 }
    let huge: UInt64 = 4 << 20
    for index in 0..<8 { bytes[header + 40 + index] = UInt8(truncatingIfNeeded: huge >> (8 * UInt64(index))) }
    let directory = try InvalidImageTests.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("big.elf").path
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    let small = try Denalid.run(["run", path, "--memory", "2MiB"])
    #expect(small.status == 2)
    #expect(small.stderr.contains("beyond"), "\(small.stderr)")
  }
}
