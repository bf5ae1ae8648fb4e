// CPUStateSwapTests.swift: the vCPU state a guest may change (MSRs, debug registers) survives a swap-out and
// swap-in: the cpu-state guest writes it, is swapped out while it idles, and reads it back after.
import Foundation
import KVM
import Testing

@testable import DenaliCore

@Suite("vCPU state across swaps", .serialized)
struct CPUStateSwapTests {
  static let memorySize: UInt64 = 2 << 20

  @Test("without a swap, every MSR and debug register the guest writes holds (the guest's own check works)")
  func holdsWithoutSwap() throws {
    guard let system = try openKVMSystem(), let image = BuiltGuests.image("cpu-state", memorySize: Self.memorySize)
    else { return }
    let console = SharedConsole()
    let vm = try GuestVM(
      system: system, image: image,
      configuration: VMConfiguration(memorySize: Self.memorySize, arguments: ["50"], timeout: .seconds(30)),
      console: console.sink)
    #expect(try vm.run() == .exited(status: 0), "\(console.text)")
    #expect(console.text.contains(" 0 mismatches"), "\(console.text)")
  }

  @Test("a guest swapped out and in while it idles finds every MSR and debug register it wrote")
  func holdsAcrossSwap() throws {
    guard let system = try openKVMSystem(), let image = BuiltGuests.image("cpu-state", memorySize: Self.memorySize),
      let idler = BuiltGuests.image("idler", memorySize: Self.memorySize)
    else { return }
    let directory = "/var/tmp/denali-cpustate-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    // One VM fits: while cpu-state idles, the idler takes its place, and it comes back when its timer fires.
    let swapping = Scheduler.Swapping(
      memoryBudget: Self.memorySize, store: try SwapStore(directory: directory), system: system, log: { _ in })
    let scheduler = Scheduler(configuration: .init(workers: 2, swapping: swapping))
    scheduler.start()
    defer { scheduler.stop() }
    let console = SharedConsole()
    let configuration = VMConfiguration(memorySize: Self.memorySize, arguments: ["400"], timeout: .seconds(30), id: 1)
    scheduler.submit(
      try GuestVM(system: system, image: image, configuration: configuration, resident: false, console: console.sink),
      name: "cpu-state")
    let other = VMConfiguration(memorySize: Self.memorySize, arguments: ["5"], timeout: .seconds(2), id: 2)
    scheduler.submit(
      try GuestVM(system: system, image: idler, configuration: other, resident: false) { _ in }, name: "idler")
    let reports = scheduler.waitForAll()
    let report = try #require(reports.first { $0.id == 1 })
    #expect(report.accounting.swapOuts >= 1 && report.accounting.swapIns >= 1, "it was swapped out and in")
    #expect(report.outcome == .exited(status: 0), "\(console.text)")
    #expect(console.text.contains(" 0 mismatches") && !console.text.contains("MISMATCH"), "\(console.text)")
    // The core list of the issue: the guest could write each of them (none was refused).
    let refusedLine = console.text.split(separator: "\n").first { $0.hasPrefix("cpu-state: refused") } ?? ""
    let refused = Set(refusedLine.split(separator: " ").dropFirst(2).map(String.init))
    for msr in [
      "0x174", "0x175", "0x176", "0xc0000081", "0xc0000082", "0xc0000083", "0xc0000084", "0xc0000102", "0x277",
    ] {
      #expect(!refused.contains(msr), "\(msr) refused: \(console.text)")
    }
  }
}
