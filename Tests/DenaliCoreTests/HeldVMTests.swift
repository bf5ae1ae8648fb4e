// HeldVMTests.swift: VMs submitted held (as the daemon submits a new VM while its journal record is synced) on
// real KVM with real guests: loaded but never run until released; a discarded one never runs at all.
import Foundation
import KVM
import Testing

@testable import DenaliCore

@Suite("Held VMs", .serialized)
struct HeldVMTests {
  static let memorySize: UInt64 = 2 << 20

  /// A started scheduler, with a memory budget of `budgetVMs` VMs and swap files in `directory` when given.
  func makeScheduler(_ system: KVMSystem, budgetVMs: UInt64? = nil, directory: String? = nil) throws -> Scheduler {
    var configuration = Scheduler.Configuration(workers: 2)
    if let budgetVMs, let directory {
      configuration.swapping = Scheduler.Swapping(
        memoryBudget: budgetVMs * Self.memorySize, store: try SwapStore(directory: directory), system: system)
    }
    let scheduler = Scheduler(configuration: configuration)
    scheduler.start()
    return scheduler
  }

  /// A hello VM printing to `console`, resident from the start unless `resident` is false (then a swap thread
  /// loads it).
  func hello(_ system: KVMSystem, _ image: GuestImage, id: UInt64, resident: Bool, console: SharedConsole) throws
    -> GuestVM
  {
    try GuestVM(
      system: system, image: image, configuration: VMConfiguration(memorySize: Self.memorySize, id: id),
      resident: resident, console: console.sink)
  }

  /// Waits (up to 20 s) until VM `id` is loaded and waiting for a worker, then 300 ms more, in which an unheld VM
  /// would have run; returns its phase then.
  func phaseAfterLoad(_ scheduler: Scheduler, id: UInt64) -> VMStatus.Phase? {
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline, let phase = scheduler.status(id: id)?.phase, phase != .runnable {
      Thread.sleep(forTimeInterval: 0.005)
    }
    Thread.sleep(forTimeInterval: 0.3)
    return scheduler.status(id: id)?.phase
  }

  @Test("a held VM is loaded but never runs until released; released, it runs and exits", arguments: [false, true])
  func heldUntilReleased(swapping: Bool) throws {
    guard let system = try openKVMSystem(), let image = BuiltGuests.image("hello", memorySize: Self.memorySize)
    else { return }
    let directory = "/var/tmp/denali-held-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let scheduler = try makeScheduler(system, budgetVMs: swapping ? 4 : nil, directory: directory)
    defer { scheduler.stop() }
    let console = SharedConsole()
    scheduler.submit(try hello(system, image, id: 1, resident: !swapping, console: console), name: "held", held: true)
    #expect(phaseAfterLoad(scheduler, id: 1) == .runnable, "loaded, waiting")
    #expect(console.text.isEmpty, "a held VM ran: \(console.text)")
    #expect(scheduler.status(id: 1)?.accounting.timesScheduled == 0)
    #expect(scheduler.sliceTotals.guest == 0)
    if swapping { #expect(scheduler.swapStatistics.boots == 1, "loaded while held") }

    scheduler.release(ids: [1])
    let reports = try scheduler.waitForAll(within: .seconds(30))
    #expect(reports.first?.outcome == .exited(status: 0))
    #expect(console.text.hasPrefix("hello from denali"), "\(console.text)")
  }

  @Test("a discarded held VM never runs: it ends without a single KVM_RUN, whether loaded or not yet admitted")
  func discardedNeverRuns() throws {
    guard let system = try openKVMSystem(), let image = BuiltGuests.image("hello", memorySize: Self.memorySize)
    else { return }
    let directory = "/var/tmp/denali-held-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    // A budget of one VM: VM 1 is loaded and held, VM 2 waits for admission behind it.
    let scheduler = try makeScheduler(system, budgetVMs: 1, directory: directory)
    defer { scheduler.stop() }
    let console = SharedConsole()
    scheduler.submit(try hello(system, image, id: 1, resident: false, console: console), name: "loaded", held: true)
    #expect(phaseAfterLoad(scheduler, id: 1) == .runnable)
    scheduler.submit(try hello(system, image, id: 2, resident: false, console: console), name: "absent", held: true)
    #expect(scheduler.status(id: 2)?.phase == .waitingForAdmission)

    scheduler.discard(ids: [2, 1])
    let reports = try scheduler.waitForAll(within: .seconds(30))
    #expect(Set(reports.map(\.id)) == [1, 2])
    #expect(reports.allSatisfy { $0.outcome != .exited(status: 0) }, "\(reports.map(\.outcome))")
    #expect(reports.allSatisfy { $0.accounting.hypercalls == 0 && $0.accounting.exits.total == 0 })
    #expect(console.text.isEmpty, "a discarded VM ran: \(console.text)")
    #expect(scheduler.sliceTotals.guest == 0, "no KVM_RUN at all")
  }
}
