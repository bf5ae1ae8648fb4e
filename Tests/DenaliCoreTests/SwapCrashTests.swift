// SwapCrashTests.swift: a daemon killed while it swaps: every swap file it leaves is a complete image, and
// every VM restarts from its file in a new process and finds its memory intact.
import Foundation
import KVM
import Testing

@testable import DenaliCore

@Suite("Swap after a crash", .serialized)
struct SwapCrashTests {
  static let memorySize: UInt64 = 2 << 20
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static var executable: String {
    ProcessInfo.processInfo.environment["DENALID"] ?? root.appendingPathComponent(".build/debug/denalid").path
  }

  @Test("SIGKILL in the middle of swapping: every swap file loads, and each VM resumes with its memory intact")
  func killedWhileSwapping() throws {
    guard let system = try openKVMSystem(), let memcheck = BuiltGuests.image("memcheck", memorySize: Self.memorySize)
    else { return }
    let directory = "/var/tmp/denali-crash-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }

    // 8 memcheck VMs that never stop (fill, sleep 20 ms, verify, repeat) in a budget of 2: constant swapping.
    let daemon = Process()
    daemon.executableURL = URL(fileURLWithPath: Self.executable)
    daemon.arguments = [
      "run", "\(BuiltGuests.directory)/memcheck.elf:8", "--memory", "2M", "--memory-budget", "4M", "--state-dir",
      directory, "--quiet", "--", "0", "20", "128",
    ]
    daemon.standardOutput = FileHandle.nullDevice
    daemon.standardError = FileHandle.nullDevice
    try daemon.run()
    func swapFiles() -> [String] {
      ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".swap") }
    }
    let deadline = Date().addingTimeInterval(20)
    while swapFiles().count < 8 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    Thread.sleep(forTimeInterval: 0.5)  // let the swapping go on: the kill lands in the middle of it
    kill(daemon.processIdentifier, SIGKILL)
    daemon.waitUntilExit()
    #expect(daemon.terminationReason == .uncaughtSignal)

    let files = swapFiles()
    #expect(files.count == 8, "every VM was swapped out at least once before the kill: \(files)")
    // Restart every VM from its file, in this process, and let each run for a while.
    let swapping = Scheduler.Swapping(
      memoryBudget: 2 * Self.memorySize, store: try SwapStore(directory: directory + "/restarted"), system: system)
    let scheduler = Scheduler(configuration: .init(workers: 2, swapping: swapping))
    scheduler.start()
    defer { scheduler.stop() }
    let console = SharedConsole()
    for name in files {
      let id = try #require(UInt64(name.dropFirst(3).dropLast(5)), "\(name)")
      let file = SwapFile(path: "\(directory)/\(name)", vmID: id, memorySize: Self.memorySize)
      try file.verify()  // a complete image with every checksum right: never a half-written one
      let configuration = VMConfiguration(memorySize: Self.memorySize, timeout: .seconds(3), id: id)
      let vm = try GuestVM(
        system: system, image: memcheck, configuration: configuration, restoringFrom: file, console: console.sink)
      scheduler.submit(vm, name: name)
    }
    let reports = scheduler.waitForAll()
    #expect(reports.count == files.count)
    // memcheck exits 1 on the first page that does not hold its pattern; running until the timeout means
    // every verification after the restart passed.
    #expect(reports.allSatisfy { $0.outcome == .timedOut }, "\(reports.map(\.outcome)) \(console.text)")
    #expect(!console.text.contains("MISMATCH"), "\(console.text)")
    #expect(reports.allSatisfy { $0.accounting.idles >= 2 }, "each resumed VM went through a verify cycle")
  }
}
