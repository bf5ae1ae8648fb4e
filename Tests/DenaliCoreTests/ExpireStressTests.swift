// ExpireStressTests.swift: VMs stopped at random moments of their idle, run and swap cycles all end, with none
// left behind (a lost wake-up once left a benchmark waiting forever for a VM stopped while it idled).
import Foundation
import KVM
import Synchronization
import Testing

@testable import DenaliCore

extension GatekeeperTests {
  /// How many VMs the stress test stops ($DENALI_EXPIRE_STRESS_VMS; the suite's default is 2,000, and
  /// `DENALI_EXPIRE_STRESS_VMS=100000` is the long form).
  static var expireStressCount: Int {
    ProcessInfo.processInfo.environment["DENALI_EXPIRE_STRESS_VMS"].flatMap(Int.init) ?? 2_000
  }

  @Test("VMs stopped at random moments of their idle/run/swap cycles all end, whether stopped by id or by handle")
  func expireAtRandomMoments() throws {
    guard let system = try openKVMSystem() else { return }
    let images = ["idler", "evil", "cpu-pattern", "hello"].compactMap {
      BuiltGuests.image($0, memorySize: Self.memorySize)
    }
    guard images.count == 4 else { return }
    // Wake every 2 ms; idle until an interrupt; spin 0.5 ms and nap 1 ms; exit at once.
    let arguments = [["2"], ["idle-forever"], ["spin-us=500", "idle-ns=1000000"], []]
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    // Room for 16 of at most 64 live VMs, each stopped 0-300 ms after it was submitted: most are booted, swapped
    // out and in before they are stopped, some while waiting for admission, in a swap, idle or running.
    let scheduler = try makeScheduler(system, budgetVMs: 16, directory: directory)
    defer { scheduler.stop() }
    var generator = SystemRandomNumberGenerator()
    var pending: [(at: ContinuousClock.Instant, id: UInt64, control: VMControl?)] = []
    let total = Self.expireStressCount
    let deadline = ContinuousClock.now + .seconds(max(120, total / 100))
    var stoppedByHandle = 0
    func expireDue() {
      let now = ContinuousClock.now
      pending.removeAll { entry in
        guard entry.at <= now else { return false }
        if let control = entry.control { control.expire() } else { scheduler.expire(id: entry.id) }
        return true
      }
    }
    for index in 0..<total {
      while scheduler.liveCount >= 64, ContinuousClock.now < deadline {
        expireDue()
        Thread.sleep(forTimeInterval: 0.0005)
      }
      let kind = index % 4
      let vm = try guest(system, images[kind], id: UInt64(index + 1), arguments: arguments[kind])
      scheduler.submit(vm, name: "vm\(index + 1)")
      let byHandle = Bool.random(using: &generator)
      if byHandle { stoppedByHandle += 1 }
      pending.append(
        (
          ContinuousClock.now + .microseconds(Int.random(in: 0...300_000, using: &generator)),
          vm.configuration.id, byHandle ? vm.control : nil
        ))
      expireDue()
    }
    while !pending.isEmpty, ContinuousClock.now < deadline {
      expireDue()
      Thread.sleep(forTimeInterval: 0.001)
    }
    do {
      let reports = try scheduler.waitForAll(within: .seconds(60))
      #expect(reports.count == total)
      let faulted = reports.filter { if case .faulted = $0.outcome { true } else { false } }
      #expect(faulted.isEmpty, "\(faulted.prefix(5).map { "\($0.id): \($0.outcome)" })")
      print("expire stress: \(total) VMs (\(stoppedByHandle) stopped by handle), swap \(scheduler.swapStatistics)")
    } catch {
      Issue.record("\(error)")
      scheduler.expireAll()
      _ = try? scheduler.waitForAll(within: .seconds(30))
    }
  }
}

extension GatekeeperTests {
  @Test("a swap image that cannot be read back ends its VM as a host failure, not a guest fault")
  func unreadableSwapImageIsAHostFailure() throws {
    guard let system = try openKVMSystem(), let idler = BuiltGuests.image("idler", memorySize: Self.memorySize),
      let hello = BuiltGuests.image("hello", memorySize: Self.memorySize)
    else { return }
    let directory = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let log = LogLines()
    let scheduler = try makeScheduler(system, budgetVMs: 1, directory: directory, log: log)
    defer { scheduler.stop() }
    // The idler (period 1 s) is swapped out to make room for hello; then its swap file is destroyed.
    scheduler.submit(try guest(system, idler, id: 1, arguments: ["1000"]), name: "idler")
    let deadline = ContinuousClock.now + .seconds(30)
    while scheduler.status(id: 1)?.phase != .idle, ContinuousClock.now < deadline {
      Thread.sleep(forTimeInterval: 0.01)
    }
    scheduler.submit(try guest(system, hello, id: 2, arguments: []), name: "hello")
    while scheduler.status(id: 1)?.phase != .swappedOut, ContinuousClock.now < deadline {
      Thread.sleep(forTimeInterval: 0.005)
    }
    #expect(scheduler.status(id: 1)?.phase == .swappedOut)
    let swapFile = directory + "/vm-1.swap"
    let handle = try #require(FileHandle(forWritingAtPath: swapFile))
    try handle.write(contentsOf: Data(repeating: 0x5A, count: 16 << 10))
    try handle.close()
    let reports = try scheduler.waitForAll(within: .seconds(60))
    let idlerReport = try #require(reports.first { $0.id == 1 })
    guard case .hostFailed(let reason) = idlerReport.outcome else {
      Issue.record("the idler ended \(idlerReport.outcome), not as a host failure")
      return
    }
    #expect(reason.contains("swap-in failed"), "\(reason)")
    #expect(reports.first { $0.id == 2 }?.outcome == .exited(status: 0))
  }
}
