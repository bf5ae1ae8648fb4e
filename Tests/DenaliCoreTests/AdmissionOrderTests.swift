// AdmissionOrderTests.swift: the order in which the gatekeeper admits VMs: VMs that have run before ahead of VMs
// never loaded, and both queues taking turns once a new VM has waited past its patience.
import Foundation
import KVM
import Testing

@testable import DenaliCore

@Suite("Admission order")
struct AdmissionOrderTests {
  static let memorySize: UInt64 = 2 << 20

  /// A scheduler record for a VM that is not in memory; `returning` marks it as one that has run before.
  func record(_ system: KVMSystem, _ image: GuestImage, id: UInt64, returning: Bool) throws -> ScheduledVM {
    let guest = try GuestVM(
      system: system, image: image, configuration: VMConfiguration(memorySize: Self.memorySize, id: id), resident: false
    ) { _ in }
    let vm = ScheduledVM(guest: guest, name: "vm\(id)")
    vm.hasBeenLoaded = returning
    return vm
  }

  /// Admits one VM at a time (a budget for one, each admitted VM released before the next decision) and returns
  /// the ids in admission order.
  func admissionOrder(_ gatekeeper: inout Gatekeeper, now: UInt64, count: Int) -> [UInt64] {
    var order: [UInt64] = []
    var runQueue = RunQueue()
    for _ in 0..<count {
      guard case .load(let vm)? = gatekeeper.decide(now: now, runQueue: &runQueue).first else { break }
      order.append(vm.id)
      gatekeeper.loadFailed(vm)  // returns the charge: room for the next one
    }
    return order
  }

  /// A gatekeeper with room for one VM and ten new VMs (ids 1-10) queued at `start`; nil when KVM or the guest is
  /// missing.
  func gatekeeperWithBurst(start: UInt64) throws -> (gatekeeper: Gatekeeper, system: KVMSystem, image: GuestImage)? {
    guard let system = try openKVMSystem(), let image = BuiltGuests.image("hello", memorySize: Self.memorySize) else {
      return nil
    }
    var gatekeeper = Gatekeeper(budget: Self.memorySize)
    for id in 1...10 {
      gatekeeper.requestAdmission(try record(system, image, id: UInt64(id), returning: false), now: start)
    }
    return (gatekeeper, system, image)
  }

  @Test("a VM that ran before is admitted ahead of a queue of new VMs")
  func returningFirst() throws {
    let start: UInt64 = 1_000_000_000
    guard let burst = try gatekeeperWithBurst(start: start) else { return }
    var gatekeeper = burst.gatekeeper
    gatekeeper.requestAdmission(try record(burst.system, burst.image, id: 100, returning: true), now: start + 1000)
    let order = admissionOrder(&gatekeeper, now: start + 2000, count: 11)
    #expect(order.first == 100, "\(order)")
    #expect(order.dropFirst() == ArraySlice((1...10).map(UInt64.init)), "new VMs keep their order: \(order)")
  }

  @Test("past the new VMs' patience the queues take turns: neither a burst nor a stream of wake-ups starves the other")
  func turnsPastPatience() throws {
    let start: UInt64 = 1_000_000_000
    guard let burst = try gatekeeperWithBurst(start: start) else { return }
    var gatekeeper = burst.gatekeeper
    // Long after the burst was queued (its head is past its patience), three VMs that ran before wake up.
    let later = start + 2 * Gatekeeper.newVMPatience
    for id in 101...103 {
      gatekeeper.requestAdmission(try record(burst.system, burst.image, id: UInt64(id), returning: true), now: later)
    }
    let order = admissionOrder(&gatekeeper, now: later + 1000, count: 13)
    // Turns: a returning VM waits for at most one new VM per returning VM ahead of it (first-come-first-served
    // would have put all three behind the ten new VMs).
    #expect(Array(order.prefix(6)) == [101, 1, 102, 2, 103, 3], "\(order)")
    #expect(Array(order.dropFirst(6)) == (4...10).map(UInt64.init), "\(order)")
  }
}
