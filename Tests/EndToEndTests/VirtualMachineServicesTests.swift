// VirtualMachineServicesTests.swift: the Denali machine end to end: virtual registers, idle, and the virtual disk.
import Foundation
import Testing

@Suite("Denali virtual machine services")
struct VirtualMachineServicesTests {
  @Test("the virtual registers show a running clock, the wall clock, the TSC rate, the VM id and memory size")
  func virtualRegisters() throws {
    guard Denalid.ready(guests: ["clock"]) else { return }
    let before = UInt64(Date().timeIntervalSince1970 * 1e9)
    let result = try Denalid.run(["run", Denalid.guest("clock"), "--memory", "8MiB"])
    let after = UInt64(Date().timeIntervalSince1970 * 1e9)
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    let fields = Self.numbers(after: ["wall", "memory", "vm", "tsc"], in: result.stdout)
    #expect(fields["memory"] == 8 << 20)
    #expect(fields["vm"] == 1)
    #expect((fields["tsc"] ?? 0) > 100_000_000, "a TSC rate above 100 MHz: \(result.stdout)")
    let wall = try #require(fields["wall"])
    #expect(wall >= before - 1_000_000_000 && wall <= after + 1_000_000_000, "\(result.stdout)")
  }

  @Test("sleeping 100 times for 1 ms takes about 100 ms and wakes within a few ms of each deadline")
  func sleepAccuracy() throws {
    guard Denalid.ready(guests: ["sleeper"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("sleeper"), "--", "100", "1"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.elapsed >= .milliseconds(100), "100 sleeps of 1 ms cannot finish sooner")
    let fields = Self.numbers(after: ["median", "p99"], in: result.stdout)
    let median = try #require(fields["median"], "\(result.stdout)")
    #expect(median < 5_000, "median lateness \(median) µs")
  }

  @Test("nop-loop makes its null hypercalls and exits 0")
  func nopLoop() throws {
    guard Denalid.ready(guests: ["nop-loop"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("nop-loop"), "--", "500"])
    #expect(result.status == 0 && result.stdout == "" && result.stderr == "")
  }

  @Test("Ilwaco's event loop fires repeating, immediate and stopping timers on idle, and a cancelled one never")
  func eventLoop() throws {
    guard Denalid.ready(guests: ["event-loop"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("event-loop")])
    #expect(result.status == 0, "\(result.stdout)")
    #expect(result.stdout.hasPrefix("event-loop: ok"), "\(result.stdout)")
  }

  @Test("Ilwaco's event loop keeps timer order when the VM wakes late: starved by spinners, no cancelled timer fires")
  func eventLoopWhenLate() throws {
    guard Denalid.ready(guests: ["event-loop", "spin"]) else { return }
    let result = try Denalid.run([
      "run", Denalid.guest("event-loop"), Denalid.guest("spin") + ":3", "--workers", "1", "--timeout", "2s",
    ])
    #expect(result.stdout.contains("[vm 1] event-loop: ok"), "\(result.stdout)")
    #expect(result.stderr.contains("4 VMs: 1 exited 0, 3 timed out"), "\(result.stderr)")
  }

  @Test("a guest idling forever uses almost no host CPU until its timeout")
  func idleUsesNoCPU() throws {
    guard Denalid.ready(guests: ["evil"]) else { return }
    let (result, cpu) = try Self.runMeasuringCPU([
      "run", Denalid.guest("evil"), "--timeout", "2s", "--", "idle-forever",
    ])
    #expect(result.status == 124)
    #expect(result.elapsed >= .seconds(2))
    #expect(cpu < .milliseconds(400), "denalid used \(cpu) of CPU while its guest idled for 2 s")
  }

  @Test("a disk written across every block verifies, and a second run over the same file still verifies")
  func diskPersistence() throws {
    guard Denalid.ready(guests: ["disk-check"]) else { return }
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("denali-disk-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let write = try Denalid.run([
      "run", Denalid.guest("disk-check"), "--disk", path, "--disk-size", "512KiB", "--", "write", "77",
    ])
    #expect(write.status == 0, "\(write.stdout) \(write.stderr)")
    #expect(write.stdout.contains("wrote 128 blocks"), "\(write.stdout)")
    let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
    #expect(size == 512 << 10)
    let verify = try Denalid.run(["run", Denalid.guest("disk-check"), "--disk", path, "--", "verify", "77"])
    #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
    #expect(verify.stdout.contains("verified 128 blocks"), "\(verify.stdout)")
    let wrongSeed = try Denalid.run(["run", Denalid.guest("disk-check"), "--disk", path, "--", "verify", "78"])
    #expect(wrongSeed.status == 1, "verification must fail for another seed: \(wrongSeed.stdout)")
    // The file holds real data: not all zero.
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    #expect(data.contains { $0 != 0 })
  }

  @Test("disk-check without a disk says so; bad disk files are refused with status 2")
  func diskErrors() throws {
    guard Denalid.ready(guests: ["disk-check"]) else { return }
    let none = try Denalid.run(["run", Denalid.guest("disk-check"), "--", "write", "1"])
    #expect(none.status == 3)
    let missing = try Denalid.run([
      "run", Denalid.guest("disk-check"), "--disk", "/nonexistent/disk.img", "--", "verify",
    ])
    #expect(missing.status == 2)
    #expect(missing.stderr.contains("disk"))
    let odd = FileManager.default.temporaryDirectory.appendingPathComponent("denali-odd-\(UUID().uuidString)").path
    FileManager.default.createFile(atPath: odd, contents: Data(count: 1000))
    defer { try? FileManager.default.removeItem(atPath: odd) }
    let badSize = try Denalid.run(["run", Denalid.guest("disk-check"), "--disk", odd, "--", "verify"])
    #expect(badSize.status == 2)
    #expect(badSize.stderr.contains("multiple of 4096"), "\(badSize.stderr)")
  }

  @Test("a full host disk gives the guest EIO, and denalid reports the guest's own status, nothing worse")
  func fullHostDisk() throws {
    guard Denalid.ready(guests: ["disk-check"]) else { return }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("denali-full-\(UUID().uuidString)")
      .path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    guard Self.shell("mount -t tmpfs -o size=64k tmpfs '\(directory)'") == 0 else {
      print("skipping: cannot mount a small tmpfs here (needs root)")
      return
    }
    defer { _ = Self.shell("umount '\(directory)'") }
    let result = try Denalid.run([
      "run", Denalid.guest("disk-check"), "--disk", directory + "/disk.img", "--disk-size", "1MiB", "--", "write", "1",
    ])
    #expect(result.status == 1, "\(result.stdout) \(result.stderr)")
    #expect(result.stdout.contains("failed: ret -5"), "the guest sees DENALI_EIO: \(result.stdout)")
    #expect(result.stderr == "")
  }

  /// Runs `command` with /bin/sh; returns its exit status.
  static func shell(_ command: String) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
  }

  /// The integers that follow each of `keys` (as "key N") in `text`.
  static func numbers(after keys: [String], in text: String) -> [String: UInt64] {
    let words = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" || $0 == ":" })
    var result: [String: UInt64] = [:]
    for (index, word) in words.enumerated() where keys.contains(String(word)) && index + 1 < words.count {
      if let value = UInt64(words[index + 1]) { result[String(word)] = value }
    }
    return result
  }

  /// Runs denalid under /usr/bin/env with a wrapper that reports the child's CPU time (user + system).
  static func runMeasuringCPU(_ arguments: [String]) throws -> (DenalidResult, Duration) {
    let statFile = FileManager.default.temporaryDirectory.appendingPathComponent("denali-cpu-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: statFile) }
    // bash's `times` prints the children's user and system time after the child exits.
    let script = "\"$0\" \"$@\"; status=$?; times > \(statFile); exit $status"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", script, Denalid.executable] + arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    let start = ContinuousClock.now
    try process.run()
    process.waitUntilExit()
    let elapsed = ContinuousClock.now - start
    let times = try String(contentsOfFile: statFile, encoding: .utf8).split(separator: "\n")
    // Second line: children's "XmY.YYYs XmZ.ZZZs".
    let childTimes = times.count > 1 ? times[1].split(separator: " ") : []
    let seconds = childTimes.map { field -> Double in
      let parts = field.dropLast().split(separator: "m")
      return parts.count == 2 ? (Double(parts[0]) ?? 0) * 60 + (Double(parts[1]) ?? 0) : 0
    }.reduce(0, +)
    let result = DenalidResult(status: process.terminationStatus, stdout: "", stderr: "", elapsed: elapsed)
    return (result, .milliseconds(Int(seconds * 1000)))
  }
}
