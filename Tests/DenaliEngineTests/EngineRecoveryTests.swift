// EngineRecoveryTests.swift: what an engine finds in the state directory an earlier engine left: every live VM
// resumed from its last complete swap image, else restarted from its image; a VM whose image copy is gone
// recorded as faulted; finished VMs listed and never run again.
import ControlAPI
import Foundation
import Testing

@testable import DenaliCore
@testable import DenaliEngine

@Suite("Engine recovery", .serialized)
struct EngineRecoveryTests {
  /// The counter guest's arguments: a count every 20 ms, printed.
  static let counter = ["interval-ms=20"]

  /// Waits until VM `id` has printed at least `atLeast` counts; returns the last.
  @discardableResult
  static func waitForCount(_ engine: any ControlBackend, _ id: UInt64, atLeast: Int) throws -> Int {
    let reached = try waitUntil { (try engine.counts(id).last ?? 0) >= atLeast }
    let counts = try engine.counts(id)
    let console = try engine.console(id)
    #expect(reached, "vm \(id) counted only to \(counts.last ?? 0): \(console)")
    return counts.last ?? 0
  }

  /// Starts an engine on `harness`, creates `count` counters, lets each count to 2 and stops the engine cleanly;
  /// returns the stopped engine (which still answers reads) and the VMs' ids.
  static func stoppedCounters(_ harness: EngineHarness, count: Int = 1) throws -> (any ControlBackend, [UInt64]) {
    let engine = try harness.start()
    let ids = try engine.createVMs(Guest.request("counter", count: count, arguments: counter)).created.map(\.id)
    for id in ids { try waitForCount(engine, id, atLeast: 2) }
    engine.shutdown()
    return (engine, ids)
  }

  /// Starts `engine` and returns what each VM of `ids` counts once started: at least two new counts each.
  static func countsAfterStart(_ engine: any ControlBackend, _ ids: [UInt64]) throws -> [[Int]] {
    let before = try ids.map { try engine.counts($0).count }
    try engine.start()
    return try zip(ids, before).map { id, seen in
      try waitUntil { try engine.counts(id).count >= seen + 2 }
      return Array(try engine.counts(id).dropFirst(seen))
    }
  }

  /// The newest complete image in VM `id`'s swap file (nil when it has none).
  static func committedImage(_ harness: EngineHarness, vm id: UInt64) -> SwapCommit? {
    let file = SwapFile(path: harness.path("swap/vm-\(id).swap"), vmID: id, memorySize: 2 << 20)
    try? file.recover()
    return file.committed
  }

  @Test("a clean stop swaps every live VM out; the next engine resumes each from its swap image where it stopped")
  func cleanStop() throws {
    guard let harness = EngineHarness() else { return }
    defer { harness.remove() }
    let (_, ids) = try Self.stoppedCounters(harness, count: 2)
    #expect(FileManager.default.fileExists(atPath: harness.path(EngineBackend.StateLayout.cleanStopMarker)))
    for id in ids { #expect(Self.committedImage(harness, vm: id) != nil, "vm \(id) has no swap image after the stop") }

    let second = try harness.make()
    defer { second.shutdown() }
    let listed = second.listVMs()
    #expect(listed.map(\.id) == ids)
    #expect(listed.allSatisfy { $0.restoredFrom == .swap && $0.restarts == 1 }, "\(listed)")
    // Recovery takes the marker away: a crash of this engine must not pass for a clean stop.
    #expect(!FileManager.default.fileExists(atPath: harness.path(EngineBackend.StateLayout.cleanStopMarker)))
    let stoppedAt = try ids.map { try second.counts($0).last ?? 0 }
    for ((id, after), last) in zip(zip(ids, try Self.countsAfterStart(second, ids)), stoppedAt) {
      // Each goes on where it stopped, and the console kept across the stop reads 1, 2, 3, ... with nothing lost
      // or repeated.
      #expect(after.first == last + 1, "vm \(id) stopped at \(last), then counted \(after)")
      let counts = try second.counts(id)
      #expect(counts.first == 1 && isContiguous(counts), "vm \(id): \(counts)")
    }
  }

  @Test("after a crash a VM without a swap image restarts from its image")
  func crashWithoutSwapImage() throws {
    guard let harness = EngineHarness() else { return }
    defer { harness.remove() }
    let (_, ids) = try Self.stoppedCounters(harness)
    let id = try #require(ids.first)
    // As if the daemon had died before the VM was ever swapped out.
    #expect(unlink(harness.path(EngineBackend.StateLayout.cleanStopMarker)) == 0)
    #expect(unlink(harness.path("swap/vm-\(id).swap")) == 0)

    let second = try harness.make()
    defer { second.shutdown() }
    let info = try second.inspectVM(.id(id))
    #expect(info.restoredFrom == .image && info.restarts == 1, "\(info)")
    let after = try Self.countsAfterStart(second, [id])[0]
    #expect(after.first == 1 && isContiguous(after), "restarted from its image, it counts from 1 again: \(after)")
  }

  @Test("after a crash a VM resumes from its last complete swap image: a newer, torn one is passed over")
  func crashWithTornNewestImage() throws {
    guard let harness = EngineHarness() else { return }
    defer { harness.remove() }
    let (_, ids) = try Self.stoppedCounters(harness)
    let id = try #require(ids.first)
    let older = try #require(Self.committedImage(harness, vm: id))

    let second = try harness.start()
    let olderCount = try second.counts(id).last ?? 0
    try Self.waitForCount(second, id, atLeast: olderCount + 3)
    second.shutdown()
    let newer = try #require(Self.committedImage(harness, vm: id))
    #expect(newer.generation == older.generation + 1 && newer.slot != older.slot, "older \(older), newer \(newer)")
    // The stopped engine still holds the console as it was written out.
    let newerCount = try #require(try second.counts(id).last)
    #expect(newerCount > olderCount)

    // A crash while the newer image was being committed: its superblock is torn.
    let handle = try #require(FileHandle(forUpdatingAtPath: harness.path("swap/vm-\(id).swap")))
    try handle.seek(toOffset: UInt64(newer.slot) * 4096 + 16)
    try handle.write(contentsOf: Data(repeating: 0xA5, count: 64))
    try handle.close()
    #expect(unlink(harness.path(EngineBackend.StateLayout.cleanStopMarker)) == 0)

    let third = try harness.make()
    defer { third.shutdown() }
    #expect(try third.inspectVM(.id(id)).restoredFrom == .swap)
    let after = try Self.countsAfterStart(third, [id])[0]
    #expect(
      after.first == olderCount + 1 && isContiguous(after), "it goes on from the older image's \(olderCount): \(after)")
  }

  @Test("a swap file that holds no readable image is removed and its VM restarts from its image")
  func unreadableSwapImage() throws {
    guard let harness = EngineHarness() else { return }
    defer { harness.remove() }
    let (_, ids) = try Self.stoppedCounters(harness, count: 2)
    // One swap file overwritten with noise, the other cut to nothing.
    let noisy = harness.path("swap/vm-\(ids[0]).swap")
    let empty = harness.path("swap/vm-\(ids[1]).swap")
    #expect(FileManager.default.createFile(atPath: noisy, contents: Data(repeating: 0x5A, count: 3 * 4096)))
    #expect(truncate(empty, 0) == 0)

    let second = try harness.make()
    defer { second.shutdown() }
    for id in ids {
      let info = try second.inspectVM(.id(id))
      #expect(info.restoredFrom == .image && info.restarts == 1, "\(info)")
    }
    #expect(!FileManager.default.fileExists(atPath: noisy) && !FileManager.default.fileExists(atPath: empty))
    for (id, after) in zip(ids, try Self.countsAfterStart(second, ids)) {
      #expect(after.first == 1 && isContiguous(after), "vm \(id): \(after)")
    }
  }

  @Test("a VM whose stored image is missing or not a guest is recorded as faulted, not restarted, its files removed")
  func missingStoredImage() throws {
    guard let harness = EngineHarness() else { return }
    defer { harness.remove() }
    let first = try harness.start()
    let lost = try #require(
      try first.createVMs(Guest.request("counter", arguments: Self.counter, diskBytes: 1 << 20)).created.first?.id)
    let spoiled = try #require(try first.createVMs(Guest.request("idler", arguments: ["50"])).created.first?.id)
    try Self.waitForCount(first, lost, atLeast: 1)
    first.shutdown()
    #expect(FileManager.default.fileExists(atPath: harness.path("disks/vm-\(lost).img")))
    let counterKey = ImageStore.key(for: try Guest.image("counter").bytes)
    let idlerKey = ImageStore.key(for: try Guest.image("idler").bytes)
    #expect(unlink(harness.path("images-store/\(counterKey).elf")) == 0)
    #expect(
      FileManager.default.createFile(
        atPath: harness.path("images-store/\(idlerKey).elf"), contents: Data("not an ELF".utf8)))

    let second = try harness.make()
    defer { second.shutdown() }
    for (id, reason) in [(lost, "image copy is missing"), (spoiled, "not a guest image")] {
      let state = try second.inspectVM(.id(id)).state
      guard case .faulted(let description) = state else {
        Issue.record("vm \(id) is \(state), not faulted")
        continue
      }
      #expect(description.contains("not restarted") && description.contains(reason), "\(description)")
      #expect(!FileManager.default.fileExists(atPath: harness.path("swap/vm-\(id).swap")))
    }
    #expect(!FileManager.default.fileExists(atPath: harness.path("disks/vm-\(lost).img")))
    // Faulted at recovery means finished: it never runs again.
    let counted = try second.counts(lost)
    try second.start()
    Thread.sleep(forTimeInterval: 0.3)
    #expect(try second.counts(lost) == counted)
    #expect(second.statistics().vmsByState[.faulted] == 2)
  }
}

extension EngineRecoveryTests {
  @Test("finished VMs are listed after a restart as they ended and never run again; beyond keep-finished the oldest go")
  func endedRecords() throws {
    guard let harness = EngineHarness() else { return }
    defer { harness.remove() }
    let first = try harness.start()
    let exited = try #require(try first.createVMs(Guest.request("null", names: ["exited"])).created.first?.id)
    #expect(try first.waitForEnd(exited) == .exited(status: 0))
    let killed = try #require(
      try first.createVMs(Guest.request("counter", names: ["killed"], arguments: Self.counter)).created.first?.id)
    try Self.waitForCount(first, killed, atLeast: 1)
    _ = try first.killVM(.name("killed"))
    #expect(try first.waitForEnd(killed) == .killed)
    let failed = try #require(
      try first.createVMs(Guest.request("exit-status", names: ["failed"], arguments: ["7"])).created.first?.id)
    #expect(try first.waitForEnd(failed) == .exited(status: 7))
    let live = try #require(
      try first.createVMs(Guest.request("counter", names: ["live"], arguments: Self.counter)).created.first?.id)
    try Self.waitForCount(first, live, atLeast: 1)
    first.shutdown()
    // Files a finished VM might have left (a crash between its end and their removal) go at recovery.
    for stray in ["swap/vm-\(exited).swap", "disks/vm-\(killed).img"] {
      #expect(FileManager.default.createFile(atPath: harness.path(stray), contents: Data(count: 4096)))
    }

    harness.configuration.keptFinishedVMs = 2
    let second = try harness.make()
    defer { second.shutdown() }
    #expect(second.listVMs().map(\.id) == [killed, failed, live])
    #expect(httpStatus(refusal { () throws(ControlBackendError) in try second.inspectVM(.name("exited")) }) == 404)
    let killedInfo = try second.inspectVM(.id(killed))
    let failedInfo = try second.inspectVM(.id(failed))
    #expect(killedInfo.state == .killed && killedInfo.restarts == 0, "\(killedInfo)")
    #expect(failedInfo.state == .exited(status: 7) && failedInfo.restarts == 0, "\(failedInfo)")
    #expect(try second.inspectVM(.id(live)).restarts == 1)
    for stray in ["swap/vm-\(exited).swap", "disks/vm-\(killed).img"] {
      #expect(!FileManager.default.fileExists(atPath: harness.path(stray)), "\(stray) is still there")
    }
    let consoleOfKilled = try second.console(killed)
    #expect(
      consoleOfKilled.contains("count 1"), "a finished VM keeps its console across the restart: \(consoleOfKilled)")
    try second.start()
    try Self.waitForCount(second, live, atLeast: (try second.counts(live).last ?? 0) + 2)
    #expect(try second.console(killed) == consoleOfKilled, "a killed VM ran again")
    // The forgotten VM's name is free, and new VMs take ids after every id the journal held.
    let again = try #require(try second.createVMs(Guest.request("null", names: ["exited"])).created.first?.id)
    #expect(again > live)
  }
}
