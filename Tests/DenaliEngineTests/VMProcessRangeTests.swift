// VMProcessRangeTests.swift: an engine of VM process K gives out ids from its own range only, and its recovery
// skips journal records from outside that range (the daemon routes a VM to its process by its id).
import ControlAPI
import Foundation
import Testing

@testable import DenaliEngine

@Suite("VM process id ranges")
struct VMProcessRangeTests {
  @Test("process 2's engine gives ids from 2000000000001; another range's engine skips them as foreign")
  func idRange() throws {
    guard let harness = EngineHarness() else { return }
    defer { harness.remove() }
    harness.configuration.firstID = WorkerPoolBackend.firstID(process: 2)
    let first = try harness.start()
    let created = try first.createVMs(try Guest.request("idler", count: 3, arguments: ["60000"])).created
    #expect(created.map(\.id) == [2_000_000_000_001, 2_000_000_000_002, 2_000_000_000_003])
    first.shutdown()

    // The same journal read as process 0's: every record is outside the range, so none is rebuilt, and new ids
    // start at the range's first again.
    harness.configuration.firstID = WorkerPoolBackend.firstID(process: 0)
    let second = try harness.start()
    #expect(second.listVMs().isEmpty, "records of another process's range are skipped, as a corrupt entry is")
    let next = try second.createVMs(try Guest.request("idler", arguments: ["60000"])).created
    #expect(next.map(\.id) == [1])
    second.shutdown()
  }
}
