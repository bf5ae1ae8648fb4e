// GatekeeperTests.swift: the memory budget and whole-VM swapping on real KVM with real guests: memory
// verified across swap cycles, incremental swap-outs, wake-ups of swapped-out VMs by timers and interrupts,
// a full disk that loses nothing, and VMs restarted from the swap files of a killed process.
import DenaliABI
import Foundation
import KVM
import Synchronization
import Testing

@testable import DenaliCore

@Suite("Gatekeeper and swapping", .serialized)
struct GatekeeperTests {
  static let memorySize: UInt64 = 2 << 20

  /// A fresh state directory, removed by the caller.
  func makeDirectory() throws -> String {
    let path = "/var/tmp/denali-gatekeeper-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  func makeScheduler(_ system: KVMSystem, budgetVMs: UInt64, directory: String, log: LogLines = LogLines())
    throws -> Scheduler
  {
    let swapping = Scheduler.Swapping(
      memoryBudget: budgetVMs * Self.memorySize, store: try SwapStore(directory: directory), system: system,
      log: { line in log.append(line) })
    let scheduler = Scheduler(configuration: .init(workers: 2, swapping: swapping))
    scheduler.start()
    return scheduler
  }

  func guest(
    _ system: KVMSystem, _ image: GuestImage, id: UInt64, arguments: [String], timeout: Duration? = nil,
    console: @escaping ConsoleDevice.Sink = { _ in }
  ) throws -> GuestVM {
    try GuestVM(
      system: system, image: image,
      configuration: VMConfiguration(memorySize: Self.memorySize, arguments: arguments, timeout: timeout, id: id),
      resident: false, console: console)
  }

  /// Samples the scheduler's memory charge until `done`, returning the highest seen.
  func peakCharge(_ scheduler: Scheduler, until done: () -> Bool) -> UInt64 {
    var peak: UInt64 = 0
    while !done() {
      peak = max(peak, scheduler.memoryOccupancy?.chargedBytes ?? 0)
      Thread.sleep(forTimeInterval: 0.005)
    }
    return peak
  }

  @Test("12 memcheck VMs in a budget of 3: every page verifies across dozens of swap cycles, within budget")
  func memcheckBeyondBudget() throws {
    guard let system = try openKVMSystem(), let memcheck = BuiltGuests.image("memcheck", memorySize: Self.memorySize)
    else { return }
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let scheduler = try makeScheduler(system, budgetVMs: 3, directory: directory)
    defer { scheduler.stop() }
    let console = SharedConsole()
    for id in 1...12 {
      scheduler.submit(
        try guest(system, memcheck, id: UInt64(id), arguments: ["3", "30", "128"], console: console.sink),
        name: "memcheck")
    }
    let peak = peakCharge(scheduler) { scheduler.liveCount == 0 }
    let reports = scheduler.waitForAll()
    #expect(reports.count == 12)
    #expect(reports.allSatisfy { $0.outcome == .exited(status: 0) }, "\(console.text)")
    #expect(!console.text.contains("MISMATCH"))
    #expect(peak <= 3 * Self.memorySize, "never more than the budget in memory: peak \(peak)")
    let swap = scheduler.swapStatistics
    #expect(swap.boots == 12)
    #expect(swap.swapOuts >= 24, "each VM is swapped out while it sleeps: \(swap)")
    #expect(swap.swapIns == swap.swapOuts, "every swapped-out VM came back: \(swap)")
    #expect(swap.swapOutFailures == 0 && swap.loadFailures == 0)
    #expect(reports.allSatisfy { $0.accounting.swapOuts >= 1 })
    // Nothing of the finished VMs is left on disk once the swap threads have done their queued deletions (they
    // run after a VM's end is reported: stop() waits for them).
    scheduler.stop()
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
  }

  @Test("swap-outs after the first write only the pages the guest or host changed (KVM's dirty log)")
  func incrementalSwapOuts() throws {
    guard let system = try openKVMSystem(), let idler = BuiltGuests.image("idler", memorySize: Self.memorySize)
    else { return }
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let scheduler = try makeScheduler(system, budgetVMs: 2, directory: directory)
    defer { scheduler.stop() }
    for id in 1...6 {
      scheduler.submit(try guest(system, idler, id: UInt64(id), arguments: ["20"], timeout: .seconds(2)), name: "idler")
    }
    let reports = scheduler.waitForAll()
    #expect(reports.allSatisfy { $0.outcome == .timedOut })
    let swap = scheduler.swapStatistics
    let firstWrites = UInt64(6)  // each VM's first swap-out writes its whole image
    #expect(swap.swapOuts >= 30, "idlers rotate through 2 slots many times: \(swap)")
    // The first image of an idler is a few dozen pages; later ones hold its stack, counter, idle struct and
    // virtual-registers pages.
    let pagesAfterFirst = Double(swap.pagesWritten) - Double(firstWrites) * 40
    #expect(pagesAfterFirst / Double(swap.swapOuts - firstWrites) < 8, "\(swap)")
    // Every VM kept making progress: its idles continued after it was swapped in again.
    #expect(
      reports.allSatisfy { $0.accounting.swapIns >= 3 && $0.accounting.idles >= $0.accounting.swapIns },
      "\(reports.map { ($0.accounting.swapIns, $0.accounting.idles) }) \(swap)")
  }

  @Test("an interrupt raised for a swapped-out VM queues it for admission and wakes it")
  func interruptWakesSwappedOutVM() throws {
    guard let system = try openKVMSystem(), let evil = BuiltGuests.image("evil", memorySize: Self.memorySize),
      let idler = BuiltGuests.image("idler", memorySize: Self.memorySize)
    else { return }
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let scheduler = try makeScheduler(system, budgetVMs: 1, directory: directory)
    defer { scheduler.stop() }
    let console = SharedConsole()
    let sleeper = try guest(
      system, evil, id: 1, arguments: ["idle-forever"], timeout: .seconds(10), console: console.sink)
    let interrupts = sleeper.interrupts
    scheduler.submit(sleeper, name: "idle-forever")
    // A second VM needs the only slot: the idle-forever VM is swapped out to make room.
    scheduler.submit(try guest(system, idler, id: 2, arguments: ["10"], timeout: .seconds(1)), name: "idler")
    let deadline = ContinuousClock.now + .seconds(5)
    while scheduler.swapStatistics.swapOuts == 0 && ContinuousClock.now < deadline {
      Thread.sleep(forTimeInterval: 0.01)
    }
    #expect(scheduler.swapStatistics.swapOuts >= 1)
    interrupts.raise(DENALI_IRQ_NET_RX)
    let reports = scheduler.waitForAll()
    let woken = try #require(reports.first { $0.id == 1 })
    #expect(woken.outcome == .exited(status: 1), "it left its endless idle because of the interrupt: \(console.text)")
    #expect(console.text.contains("idle returned ret 0, pending 0x4"), "\(console.text)")
    #expect(woken.accounting.swapIns >= 1)
  }

  @Test("a full disk: swap-outs fail and are retried, the VMs stay in memory, and every VM finishes intact")
  func fullDisk() throws {
    guard let system = try openKVMSystem(), let memcheck = BuiltGuests.image("memcheck", memorySize: Self.memorySize)
    else { return }
    guard let mount = try SmallFileSystem(kilobytes: 400) else { return }
    defer { mount.remove() }
    let log = LogLines()
    let scheduler = try makeScheduler(system, budgetVMs: 2, directory: mount.path, log: log)
    defer { scheduler.stop() }
    let console = SharedConsole()
    for id in 1...6 {
      scheduler.submit(
        try guest(system, memcheck, id: UInt64(id), arguments: ["3", "20", "256"], console: console.sink),
        name: "memcheck")
    }
    let reports = scheduler.waitForAll()
    #expect(reports.count == 6)
    #expect(reports.allSatisfy { $0.outcome == .exited(status: 0) }, "\(console.text)")
    #expect(!console.text.contains("MISMATCH"))
    let swap = scheduler.swapStatistics
    #expect(swap.swapOutFailures >= 1, "a 400 KiB disk cannot hold several 300 KiB images: \(swap)")
    #expect(swap.loadFailures == 0)
    let lines = log.lines
    #expect(
      lines.contains { $0.contains("swap-out failed, the VM stays in memory") && $0.contains("No space left") },
      "\(lines)")
  }
}

/// Lines logged from any thread.
final class LogLines: Sendable {
  private let storage = Locked<[String]>([])
  /// Adds a line.
  func append(_ line: String) { storage.withLock { $0.append(line) } }
  /// Every line so far.
  var lines: [String] { storage.withLock { $0 } }
}
