// EngineTableTests.swift: the engine's VM table: names and room reserved atomically (concurrent creates racing for
// one name or for the last places under max-vms), finished VMs forgotten beyond keep-finished, and the journal
// rewritten once appends have grown it.
import ControlAPI
import Foundation
import Synchronization
import Testing

@testable import DenaliEngine

@Suite("Engine VM table", .serialized)
struct EngineTableTests {
  /// Runs `body` on `threads` threads released together; returns each call's result, in no particular order.
  static func concurrently(
    _ threads: Int, _ body: @Sendable @escaping () throws(ControlBackendError) -> VMCreationResult
  ) -> [Result<VMCreationResult, ControlBackendError>] {
    let results = Mutex<[Result<VMCreationResult, ControlBackendError>]>([])
    let ready = DispatchGroup()
    let go = DispatchSemaphore(value: 0)
    let done = DispatchGroup()
    for _ in 0..<threads {
      ready.enter()
      done.enter()
      Thread.detachNewThread {
        ready.leave()
        go.wait()
        let result = Result { () throws(ControlBackendError) in try body() }
        results.withLock { $0.append(result) }
        done.leave()
      }
    }
    ready.wait()
    for _ in 0..<threads { go.signal() }
    done.wait()
    return results.withLock { $0 }
  }

  @Test("a name in use, or given twice in one request, is refused and nothing is created")
  func nameConflicts() throws {
    try EngineHarness.withEngine(started: false) { _, engine in
      let first = try engine.createVMs(Guest.request("null", count: 2, names: ["web", "db"]))
      #expect(first.created.map(\.name) == ["web", "db"] && first.stoppedBy == nil)
      for names in [["cache", "web"], ["twin", "twin"]] {
        let request = try Guest.request("null", count: 2, names: names)
        let refused = refusal { () throws(ControlBackendError) in try engine.createVMs(request) }
        #expect(
          httpStatus(refused) == 409 && refused?.description.contains("'\(names[1])'") == true,
          "\(names): \(String(describing: refused))")
      }
      // The refused requests reserved nothing: their other names are free and no VM was added.
      #expect(engine.listVMs().count == 2)
      #expect(try engine.createVMs(Guest.request("null", count: 2, names: ["cache", "twin"])).created.count == 2)
      #expect(try engine.inspectVM(.name("db")).id == first.created[1].id)
    }
  }

  @Test("concurrent creates racing for one name: exactly one wins, the rest are refused")
  func nameRace() throws {
    try EngineHarness.withEngine(started: false) { _, engine in
      for round in 0..<3 {
        let named = try Guest.request("null", names: ["contested-\(round)"])
        let results = Self.concurrently(8) { () throws(ControlBackendError) in try engine.createVMs(named) }
        let winners = results.compactMap { try? $0.get() }
        #expect(winners.count == 1 && winners.first?.created.count == 1, "round \(round): \(results)")
        for case .failure(let error) in results {
          #expect(httpStatus(error) == 409 && error.description.contains("'contested-\(round)'"), "\(error)")
        }
      }
      #expect(engine.listVMs().count == 3)
    }
  }

  @Test(
    "concurrent creates racing for the last places under max-vms never pass it; a batch is cut short with the reason")
  func limitRace() throws {
    try EngineHarness.withEngine(maximumVMs: 10, started: false) { _, engine in
      let request = try Guest.request("null", count: 3)
      // Twelve requests of three for ten places.
      let results = Self.concurrently(12) { () throws(ControlBackendError) in try engine.createVMs(request) }
      var created = 0
      for result in results {
        switch result {
        case .success(let batch):
          created += batch.created.count
          if batch.created.count < 3 {
            #expect(httpStatus(batch.stoppedBy) == 409 && batch.stoppedBy?.description.contains("max-vms") == true)
          } else {
            #expect(batch.stoppedBy == nil)
          }
        case .failure(let error):
          #expect(httpStatus(error) == 409 && error.description.contains("max-vms"), "\(error)")
        }
      }
      #expect(created == 10, "\(results)")
      let ids = engine.listVMs().map(\.id)
      #expect(ids.count == 10 && Set(ids).count == 10)
      let one = try Guest.request("null")
      #expect(httpStatus(refusal { () throws(ControlBackendError) in try engine.createVMs(one) }) == 409)
    }
  }

  @Test(
    "concurrent creates of two users racing under their quotas and the daemon's disk limits never pass them; refused requests change nothing; a restart keeps owners and counts them"
  )
  func quotaRace() throws {
    guard let harness = EngineHarness() else { return }
    defer { harness.remove() }
    // quota-vms 4 per user; scratch-disk-limit 8 disks of 64 KiB (admins are bound by it too).
    harness.configuration.limits = EngineLimits(vmsPerUser: 4, scratchDiskBytes: 8 * (64 << 10))
    let engine = try harness.make()
    let alice = ControlCaller(uid: 1001, isAdmin: false)
    let bob = ControlCaller(uid: 1002, isAdmin: false)
    for user in [alice, bob] {
      var request = try Guest.request("null")
      request.requester = user
      let results = Self.concurrently(8) { [request] () throws(ControlBackendError) in try engine.createVMs(request) }
      let created = results.compactMap { try? $0.get() }.flatMap(\.created)
      #expect(created.count == 4 && created.allSatisfy { $0.owner == user.uid }, "\(user): \(results)")
      for case .failure(let error) in results {
        #expect(httpStatus(error) == 403 && error.description.hasPrefix("quota-vms: uid \(user.uid)"), "\(error)")
      }
    }
    // Administrators have no quota, but the disk limit binds everyone: 12 racing for 8 disks.
    var disked = try Guest.request("null", diskBytes: 64 << 10)
    disked.requester = ControlCaller(uid: 1003, isAdmin: true)
    let results = Self.concurrently(12) { [disked] () throws(ControlBackendError) in try engine.createVMs(disked) }
    #expect(results.compactMap { try? $0.get() }.count == 8, "\(results)")
    for case .failure(let error) in results {
      #expect(httpStatus(error) == 409 && error.description.hasPrefix("scratch-disk-limit:"), "\(error)")
    }
    // Nothing refused was kept, and ids are dense: no refused request used one.
    let ids = engine.listVMs().map(\.id)
    #expect(ids == Array(1...16).map(UInt64.init), "\(ids)")
    // After a restart the owners come back from the journal and still count against the quotas.
    engine.shutdown()
    let restarted = try harness.make()
    defer { restarted.shutdown() }
    let owners = Dictionary(grouping: restarted.listVMs(), by: \.owner).mapValues(\.count)
    #expect(owners == [1001: 4, 1002: 4, 1003: 8], "\(owners)")
    var more = try Guest.request("null")
    more.requester = alice
    let refused = refusal { [more] () throws(ControlBackendError) in try restarted.createVMs(more) }
    #expect(httpStatus(refused) == 403, "\(String(describing: refused))")
    more.requester = ControlCaller(uid: 1004, isAdmin: false)
    #expect(try restarted.createVMs(more).created.first?.owner == 1004)
  }

  @Test(
    "finished VMs beyond keep-finished are forgotten oldest first, freeing their names; they make room under max-vms")
  func forgetting() throws {
    try EngineHarness.withEngine(maximumVMs: 4, keptFinishedVMs: 2) { _, engine in
      var ids: [UInt64] = []
      for index in 1...4 {
        let id = try #require(try engine.createVMs(Guest.request("null", names: ["n\(index)"])).created.first?.id)
        #expect(try engine.waitForEnd(id) == .exited(status: 0))
        ids.append(id)
      }
      #expect(engine.listVMs().map(\.id) == Array(ids.suffix(2)))
      #expect(httpStatus(refusal { () throws(ControlBackendError) in try engine.inspectVM(.name("n1")) }) == 404)
      #expect(
        httpStatus(refusal { () throws(ControlBackendError) in try engine.consoleTail(.id(ids[1]), lines: 0) }) == 404)
      // Four live VMs fit under max-vms 4: the two finished ones kept make room.
      let idlers = try engine.createVMs(
        Guest.request("idler", count: 4, names: ["n1", "n2", "i3", "i4"], arguments: ["60000"]))
      #expect(idlers.created.count == 4 && idlers.stoppedBy == nil)
      #expect(engine.listVMs().map(\.id) == idlers.created.map(\.id))
      let one = try Guest.request("null")
      #expect(httpStatus(refusal { () throws(ControlBackendError) in try engine.createVMs(one) }) == 409)
      // Forgotten VMs still count in the totals.
      let statistics = engine.statistics()
      #expect(statistics.vmsCreatedTotal == 8)
      #expect(statistics.hypercallsTotal >= 4, "the four null VMs' terminate hypercalls are kept: \(statistics)")
    }
  }

  @Test("the journal is rewritten once appends have grown it; the rewrite keeps every VM still listed")
  func journalCompaction() throws {
    guard let harness = EngineHarness(keptFinishedVMs: 0) else { return }
    defer { harness.remove() }
    harness.configuration.journalCompactionAppends = 8
    let engine = try harness.start()
    let kept = try #require(
      try engine.createVMs(Guest.request("idler", names: ["kept"], arguments: ["60000"])).created.first?.id)
    var lines: [Int] = []
    for _ in 0..<20 {
      _ = try engine.createVMs(Guest.request("null"))
      // Each VM ends at once and is forgotten (keep-finished 0): a creation and an end appended.
      guard waitUntil(.seconds(30), { engine.listVMs().count == 1 }) else {
        Issue.record("a finished VM was not forgotten: \(engine.listVMs())")
        break
      }
      let journal = try String(contentsOfFile: harness.path("vms.journal"), encoding: .utf8)
      lines.append(journal.split(separator: "\n").count)
    }
    // 41 appends without a rewrite; with one after every 8 or so, the file stays short.
    #expect(lines.max() ?? 0 <= 12, "journal lines after each create: \(lines)")
    #expect(zip(lines, lines.dropFirst()).contains { $1 < $0 }, "the journal never shrank: \(lines)")
    engine.shutdown()
    #expect(unlink(harness.path("clean-stop")) == 0, "restart as after a crash: from the journal as compacted")
    let restarted = try harness.make()
    defer { restarted.shutdown() }
    #expect(restarted.listVMs().map(\.id) == [kept])
  }
}
