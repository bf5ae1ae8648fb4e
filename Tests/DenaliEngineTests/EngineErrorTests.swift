// EngineErrorTests.swift: requests the engine refuses are told apart from host failures: an invalid request is a
// 4xx, a host that fails (a full state directory, a path the engine cannot write) a 5xx, and neither leaves a VM
// behind or holds on to the names it asked for.
import ControlAPI
import Foundation
import Testing

@testable import DenaliEngine

@Suite("Engine errors", .serialized)
struct EngineErrorTests {
  /// Mounts a tmpfs of `size` (mount's spelling) as the harness's state directory; false (the test is skipped,
  /// or fails in CI) when it cannot (mounting needs root).
  func mountSmallStateDirectory(_ harness: EngineHarness, size: String) throws -> Bool {
    try FileManager.default.createDirectory(atPath: harness.stateDirectory, withIntermediateDirectories: false)
    guard mount("tmpfs", harness.stateDirectory, "tmpfs", 0, "size=\(size),mode=0700") == 0 else {
      let message = "skipping: cannot mount a tmpfs: \(String(cString: strerror(errno))) (needs root)"
      if ProcessInfo.processInfo.environment["CI"] == "true" {
        Issue.record(Comment(rawValue: message))
      } else {
        print(message)
      }
      return false
    }
    return true
  }

  /// Writes `path` until its file system is full.
  func fillFileSystem(with path: String) {
    let fd = open(path, O_WRONLY | O_CREAT, 0o600)
    #expect(fd >= 0)
    let chunk = [UInt8](repeating: 0xAA, count: 4096)
    var size = chunk.count
    while size > 0 {
      if chunk.withUnsafeBytes({ write(fd, $0.baseAddress, size) }) < 0 { size /= 2 }
    }
    close(fd)
  }

  @Test("invalid requests are 4xx: an image that is not ELF, memory over the budget, no such VM, a finished VM")
  func invalidRequests() throws {
    try EngineHarness.withEngine { harness, engine in
      var notELF = try Guest.request("null")
      notELF.image.bytes = Array("#!/bin/sh\necho not a guest\n".utf8)
      let refusedImage = refusal { () throws(ControlBackendError) in try engine.createVMs(notELF) }
      #expect(httpStatus(refusedImage) == 422, "\(String(describing: refusedImage))")
      #expect(refusedImage?.description.contains("is not a usable guest image") == true)
      // Nothing of it was kept: no VM, no stored copy.
      #expect(try FileManager.default.contentsOfDirectory(atPath: harness.path("images-store")).isEmpty)

      var huge = try Guest.request("null")
      huge.memoryBytes = 128 << 20
      let refusedSize = refusal { () throws(ControlBackendError) in try engine.createVMs(huge) }
      #expect(httpStatus(refusedSize) == 422, "\(String(describing: refusedSize))")
      #expect(refusedSize?.description.contains("memory budget") == true, "\(String(describing: refusedSize))")

      let missing = refusal { () throws(ControlBackendError) in try engine.inspectVM(.id(99)) }
      #expect(httpStatus(missing) == 404, "\(String(describing: missing))")

      let id = try #require(try engine.createVMs(Guest.request("null")).created.first?.id)
      #expect(try engine.waitForEnd(id) == .exited(status: 0))
      let finished = refusal { () throws(ControlBackendError) in try engine.killVM(.id(id)) }
      #expect(httpStatus(finished) == 409, "\(String(describing: finished))")
      #expect(finished?.description.contains("already finished") == true, "\(String(describing: finished))")
      #expect(engine.listVMs().map(\.id) == [id])
    }
  }

  @Test(
    "a path the engine cannot write (a directory where a scratch disk goes) is a host error, 5xx; the name stays free")
  func unwritableScratchDisk() throws {
    try EngineHarness.withEngine(started: false) { harness, engine in
      // The next VM is vm 1: its scratch disk's name is taken by a directory (unlink cannot remove it).
      try FileManager.default.createDirectory(
        atPath: harness.path("disks/vm-1.img"), withIntermediateDirectories: false)
      let request = try Guest.request("null", names: ["scratch"], diskBytes: 1 << 20)
      expectHostError(
        refusal { () throws(ControlBackendError) in try engine.createVMs(request) },
        naming: "cannot open the scratch disk of vm 1")
      #expect(engine.listVMs().isEmpty)
      try FileManager.default.removeItem(atPath: harness.path("disks/vm-1.img"))
      let created = try engine.createVMs(request).created
      #expect(created.map(\.name) == ["scratch"] && created.first?.id == 2)
    }
  }

  @Test("a full state directory is a host error, 5xx, naming ENOSPC; with room again the same request succeeds")
  func fullStateDirectory() throws {
    guard let harness = EngineHarness() else { return }
    defer { harness.remove() }
    guard try mountSmallStateDirectory(harness, size: "512k") else { return }
    defer { umount2(harness.stateDirectory, Int32(MNT_DETACH)) }
    let engine = try harness.make()
    defer { engine.shutdown() }
    let filler = harness.path("filler")
    fillFileSystem(with: filler)
    let request = try Guest.request("counter", names: ["full"])
    expectHostError(
      refusal { () throws(ControlBackendError) in try engine.createVMs(request) }, naming: "No space left on device")
    #expect(engine.listVMs().isEmpty)
    #expect(unlink(filler) == 0)
    #expect(try engine.createVMs(request).created.map(\.name) == ["full"])
  }

  @Test("VMs whose journal record cannot be written never run: loaded while it was written, then discarded")
  func unrecordedVMsNeverRun() throws {
    guard let harness = EngineHarness() else { return }
    defer { harness.remove() }
    guard try mountSmallStateDirectory(harness, size: "2m") else { return }
    defer { umount2(harness.stateDirectory, Int32(MNT_DETACH)) }
    let engine = try harness.start()
    defer { engine.shutdown() }
    let scheduler = try #require((engine as? EngineBackend)?.scheduler)
    // One VM runs first: its image is stored, so the failing request below fails at its journal record only.
    let first = try #require(try engine.createVMs(Guest.request("hello")).created.first?.id)
    #expect(try engine.waitForEnd(first) == .exited(status: 0))
    let guestTime = scheduler.sliceTotals.guest
    #expect(guestTime > 0)

    let filler = harness.path("filler")
    fillFileSystem(with: filler)
    // 20 records are more than what is left of the journal's last page.
    let twenty = try Guest.request("hello", count: 20)
    expectHostError(
      refusal { () throws(ControlBackendError) in try engine.createVMs(twenty) },
      naming: "cannot record the VMs")
    #expect(waitUntil { scheduler.liveCount == 0 }, "the discarded VMs ended")
    #expect(scheduler.sliceTotals.guest == guestTime, "a VM without a durable record entered KVM_RUN")
    #expect(engine.listVMs().map(\.id) == [first])

    #expect(unlink(filler) == 0)
    let next = try #require(try engine.createVMs(Guest.request("hello")).created.first?.id)
    #expect(try engine.waitForEnd(next) == .exited(status: 0))
    #expect(try engine.console(next).hasPrefix("hello from denali"))
  }

  @Test("a stopping engine refuses new VMs as unavailable (503); a state directory others may change stops it at start")
  func unavailable() throws {
    guard let harness = EngineHarness() else { return }
    defer { harness.remove() }
    let engine = try harness.make()
    engine.shutdown()
    let request = try Guest.request("null")
    let refused = refusal { () throws(ControlBackendError) in try engine.createVMs(request) }
    #expect(httpStatus(refused) == 503, "\(String(describing: refused))")

    #expect(chmod(harness.stateDirectory, 0o777) == 0)
    #expect(throws: EngineStartError.self) { try harness.make() }
  }
}
