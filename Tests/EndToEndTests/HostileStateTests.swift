// HostileStateTests.swift: `denalid serve` and `denalid run` against state a local user prepared: a state
// directory another user could change is refused at start (125, naming it); links planted at the daemon's file
// names while it runs are never written through; and a crafted journal and swap file skip the VMs they describe,
// with the reason logged, while the daemon starts and serves the others.
import Foundation
import Glibc
import Testing

@Suite("denalid against hostile state", .serialized)
struct HostileStateTests {
  static let victimText = "root's file: must never change\n"

  @Test("a state directory writable by others, or owned by another user, stops serve and run at start (125), named")
  func untrustedStateDirectory() throws {
    guard Denalid.ready(guests: ["hello"]) else { return }
    let daemon = try DaemonProcess()
    try FileManager.default.createDirectory(atPath: daemon.stateDirectory, withIntermediateDirectories: false)
    #expect(chmod(daemon.stateDirectory, 0o777) == 0)
    let serve = try Denalid.run(daemon.serveArguments, limit: .seconds(60))
    #expect(serve.status == 125, "\(serve.stderr)")
    #expect(
      serve.stderr.contains("refusing \(daemon.stateDirectory): it belongs to uid 0 and has mode 0777"),
      "\(serve.stderr)")
    #expect(!FileManager.default.fileExists(atPath: daemon.stateDirectory + "/vms.journal"))
    let run = try Denalid.run(["run", Denalid.guest("hello"), "--state-dir", daemon.stateDirectory])
    #expect(run.status == 125, "\(run.stderr)")
    #expect(run.stderr.contains("refusing \(daemon.stateDirectory)"), "\(run.stderr)")
    guard geteuid() == 0 else { return }
    // A parent directory another user owns: they could swap the state directory for a link.
    let parent = daemon.directory + "/theirs"
    try FileManager.default.createDirectory(atPath: parent + "/state", withIntermediateDirectories: true)
    #expect(chown(parent, 65534, 65534) == 0)
    let nested = try Denalid.run(
      daemon.serveArguments.map { $0 == daemon.stateDirectory ? parent + "/state" : $0 }, limit: .seconds(60))
    #expect(nested.status == 125, "\(nested.stderr)")
    #expect(nested.stderr.contains("refusing \(parent): it belongs to uid 65534"), "\(nested.stderr)")
  }

  @Test("links planted at the clean-stop marker and a scratch disk while the daemon runs leave their targets untouched")
  func plantedLinks() throws {
    guard Denalid.ready(guests: ["counter"]) else { return }
    let daemon = try DaemonProcess()
    let marker = daemon.directory + "/victim-marker"
    let disk = daemon.directory + "/victim-disk"
    try Data(Self.victimText.utf8).write(to: URL(fileURLWithPath: marker))
    let diskBytes = Data(repeating: 0x5A, count: 1 << 20)
    try diskBytes.write(to: URL(fileURLWithPath: disk))
    try daemon.start()
    let spawn = try daemon.client(
      ["spawn", "counter.elf", "--count", "2", "--memory", "2MiB", "--disk-size", "1MiB", "--", "interval-ms=50"])
    #expect(spawn.status == 0, "\(spawn.stderr)")
    try daemon.waitForVMs("both counters to tick") { vms in
      vms.count == 2 && vms.allSatisfy { ($0["hypercalls"] as? Int ?? 0) >= 4 }
    }
    // The stop writes the clean-stop marker: through the link it would truncate the victim.
    #expect(symlink(marker, daemon.stateDirectory + "/clean-stop") == 0)
    #expect(daemon.terminate() == 0)
    #expect(try String(contentsOfFile: marker, encoding: .utf8) == Self.victimText)
    var status = stat()
    #expect(lstat(daemon.stateDirectory + "/clean-stop", &status) == 0 && status.st_mode & S_IFMT == S_IFREG)
    // VM 1 resumes with the disk it had: a link put in its place is refused (the VM is not restarted), not opened.
    #expect(unlink(daemon.stateDirectory + "/disks/vm-1.img") == 0)
    #expect(symlink(disk, daemon.stateDirectory + "/disks/vm-1.img") == 0)
    try daemon.start()
    #expect(daemon.log.contains("vm 1 cannot be restarted: cannot open the scratch disk of vm 1"), "\(daemon.log)")
    try daemon.waitForVMs("vm 2 to resume") { vms in
      vms.contains { $0["id"] as? Int == 2 && ($0["restored_from"] as? String) == "swap" }
    }
    #expect(daemon.terminate() == 0)
    #expect(try Data(contentsOf: URL(fileURLWithPath: disk)) == diskBytes)
  }

  @Test("a crafted journal and swap file skip the VMs they describe with a logged reason; the daemon serves the rest")
  func craftedStateAtStart() throws {
    guard Denalid.ready(guests: ["counter"]) else { return }
    let daemon = try DaemonProcess()
    try daemon.start()
    let spawn = try daemon.client(["spawn", "counter.elf", "--count", "3", "--memory", "2MiB", "--", "interval-ms=50"])
    #expect(spawn.status == 0, "\(spawn.stderr)")
    try daemon.waitForVMs("every counter to tick") { vms in
      vms.count == 3 && vms.allSatisfy { ($0["hypercalls"] as? Int ?? 0) >= 4 }
    }
    #expect(daemon.terminate() == 0)

    // The journal: VM 2's record claims Int.max restarts, and a new record has the id 2^64 - 1.
    let journalPath = daemon.stateDirectory + "/vms.journal"
    var lines = try String(contentsOfFile: journalPath, encoding: .utf8).split(separator: "\n").map(String.init)
    lines = try lines.map { line in
      guard let object = try JSONSerialization.jsonObject(with: Data(line.dropFirst(9).utf8)) as? [String: Any],
        var record = object["record"] as? [String: Any], record["id"] as? Int == 2
      else { return line }
      record["restarts"] = Int.max
      return try Self.journalLine(["record": record])
    }
    lines.append(
      try Self.journalLine([
        "created": [
          "id": UInt64.max, "imagePath": "/x.elf", "imageKey": "0123456789abcdef-1", "memorySize": 2 << 20,
          "arguments": [String](), "createdAt": 1,
        ] as [String: Any]
      ]))
    try (lines.joined(separator: "\n") + "\n").write(toFile: journalPath, atomically: false, encoding: .utf8)
    // VM 3's swap file: every superblock points its segment at 2^63, with checksums that match.
    try Self.patchSuperblocks(daemon.stateDirectory + "/swap/vm-3.swap") { block in
      withUnsafeBytes(of: (UInt64(1) << 63).littleEndian) { block.replaceSubrange(40..<48, with: $0) }
    }

    try daemon.start()
    let log = daemon.log
    #expect(log.contains("id 18446744073709551615 is out of range"), "\(log)")
    #expect(log.contains("vm 2: restarts 9223372036854775807 is out of range"), "\(log)")
    #expect(log.contains("vm 3: its swap file is unusable, it restarts from its image"), "\(log)")
    #expect(log.contains("segment") && log.contains("out of range of a"), "\(log)")
    let vms = try daemon.waitForVMs("VMs 1 and 3 to run again") { vms in
      vms.map { $0["id"] as? Int ?? 0 } == [1, 3] && vms.allSatisfy { ($0["hypercalls"] as? Int ?? 0) >= 4 }
    }
    #expect(vms.first?["restored_from"] as? String == "swap")
    #expect(vms.last?["restored_from"] as? String == "image")
    let spawnAgain = try daemon.client(["spawn", "counter.elf", "--memory", "2MiB", "--", "interval-ms=50"])
    #expect(spawnAgain.status == 0, "\(spawnAgain.stderr)")
    // Ids go on after the largest valid one: the skipped record's 2^64 - 1 counted for nothing.
    #expect(try daemon.vms().map { $0["id"] as? Int ?? 0 } == [1, 3, 4])
    #expect(daemon.terminate() == 0)
  }

  /// A journal line for `object`: the CRC-32C of its JSON in eight hex digits, a space, the JSON.
  static func journalLine(_ object: [String: Any]) throws -> String {
    let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    let crc = String(CRC32C.checksum([UInt8](json)), radix: 16)
    return String(repeating: "0", count: 8 - crc.count) + crc + " " + String(decoding: json, as: UTF8.self)
  }

  /// Rewrites each superblock (slots 0 and 1) of the swap file at `path` that has one after `change`, with a
  /// checksum that matches.
  static func patchSuperblocks(_ path: String, _ change: (inout [UInt8]) -> Void) throws {
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    for slot in 0..<2 where bytes.count >= slot * 4096 + 128 && bytes[slot * 4096] == 0x44 {
      var block = Array(bytes[(slot * 4096)..<(slot * 4096 + 128)])
      change(&block)
      withUnsafeBytes(of: CRC32C.checksum(Array(block[0..<64])).littleEndian) {
        block.replaceSubrange(64..<68, with: $0)
      }
      bytes.replaceSubrange((slot * 4096)..<(slot * 4096 + 128), with: block)
    }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
  }
}

/// CRC-32C (Castagnoli), as the daemon's journal lines and swap files use it.
enum CRC32C {
  private static let table: [UInt32] = (0..<256).map { byte in
    var value = UInt32(byte)
    for _ in 0..<8 { value = (value >> 1) ^ (0x82F6_3B78 & (0 &- (value & 1))) }
    return value
  }

  /// The checksum of `bytes` (start 0).
  static func checksum(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    return ~crc
  }
}
