// EngineDiskImageTests.swift: a read-only disk image shared by the VMs of a create request: every VM reads the same
// site through one open copy kept in the state directory, the API shows it, and a restart finds it there after
// the original file is gone.
import ControlAPI
import DenaliCore
import Foundation
import Testing

@testable import DenaliEngine

@Suite("Engine: shared read-only disk images")
struct EngineDiskImageTests {
  /// A packed site of two files, read as the API layer hands it to the engine.
  static func site(in directory: String) throws -> ResolvedImage {
    try FileManager.default.createDirectory(atPath: directory + "/site", withIntermediateDirectories: true)
    try Data(String(repeating: "shared page\n", count: 300).utf8).write(
      to: URL(fileURLWithPath: directory + "/site/a.html"))
    try Data(repeating: 0x5A, count: 5000).write(to: URL(fileURLWithPath: directory + "/site/b.bin"))
    _ = try SiteImagePacker.pack(directory: directory + "/site", output: directory + "/site.img")
    return ResolvedImage(
      path: directory + "/site.img", bytes: Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/site.img"))))
  }

  @Test("three VMs read one site image through the copy the engine keeps; each sees every file intact")
  func sharedSiteImage() throws {
    guard let harness = EngineHarness() else { return }
    defer { harness.remove() }
    let files = NSTemporaryDirectory() + "denali-disk-image-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: files) }
    let site = try Self.site(in: files)
    var request = try Guest.request("site-check", count: 3, arguments: ["lookup", "/a.html", "/b.bin"])
    request.diskImage = site
    let engine = try harness.start()
    let created = try engine.createVMs(request).created
    #expect(created.count == 3)
    #expect(created.allSatisfy { $0.diskImage == site.path && $0.diskBytes == UInt64(site.bytes.count) })
    for vm in created {
      #expect(try engine.waitForEnd(vm.id) == .exited(status: 0), "\((try? engine.console(vm.id)) ?? "")")
      let console = try engine.console(vm.id)
      #expect(console.contains("/a.html: size 3600") && console.contains("/b.bin: size 5000"), "\(console)")
      #expect(!console.contains("MISMATCH"), "\(console)")
    }
    engine.shutdown()
    // The copy is in the state directory, by content; the file the request named may go.
    let stored = try FileManager.default.contentsOfDirectory(atPath: harness.path("images-store"))
    #expect(stored.contains { $0.hasSuffix("-\(site.bytes.count).elf") }, "\(stored)")
    try FileManager.default.removeItem(atPath: site.path)
    // A restarted engine keeps the copy (its finished VMs' records name it) and a new VM reads the image.
    let again = try harness.start()
    defer { again.shutdown() }
    let kept = try FileManager.default.contentsOfDirectory(atPath: harness.path("images-store"))
    #expect(kept.contains { $0.hasSuffix("-\(site.bytes.count).elf") }, "\(kept)")
    var second = try Guest.request("site-check", count: 1, arguments: ["lookup", "/b.bin"])
    second.diskImage = site
    let vm = try again.createVMs(second).created[0]
    #expect(try again.waitForEnd(vm.id) == .exited(status: 0), "\((try? again.console(vm.id)) ?? "")")
    #expect(try again.console(vm.id).contains("/b.bin: size 5000"))
  }

  @Test("a VM cannot write the shared image: its write gets EROFS, and the image and the kept copy are unchanged")
  func sharedImageIsReadOnly() throws {
    guard let harness = EngineHarness() else { return }
    defer { harness.remove() }
    let files = NSTemporaryDirectory() + "denali-disk-image-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: files) }
    let site = try Self.site(in: files)
    var request = try Guest.request("disk-check", count: 2, arguments: ["write", "7"])
    request.diskImage = site
    let engine = try harness.start()
    defer { engine.shutdown() }
    let created = try engine.createVMs(request).created
    for vm in created {
      #expect(try engine.waitForEnd(vm.id) == .exited(status: 1), "\((try? engine.console(vm.id)) ?? "")")
      let console = try engine.console(vm.id)
      // -30: DENALI_EROFS, a write to a read-only disk.
      #expect(console.contains("write at block 0 failed: ret -30"), "\(console)")
    }
    #expect(Array(try Data(contentsOf: URL(fileURLWithPath: site.path))) == site.bytes)
    let store = harness.path("images-store")
    let copies = try FileManager.default.contentsOfDirectory(atPath: store).filter {
      $0.hasSuffix("-\(site.bytes.count).elf")
    }
    try #require(copies.count == 1, "\(copies)")
    #expect(Array(try Data(contentsOf: URL(fileURLWithPath: store + "/" + copies[0]))) == site.bytes)
  }

  @Test(
    "VMs sharing a read-only disk image hold no scratch disk: a scratch-disk-limit of one 64 KiB disk still admits one")
  func sharedImageIsNoScratchDisk() throws {
    guard let harness = EngineHarness() else { return }
    defer { harness.remove() }
    harness.configuration.limits = EngineLimits(scratchDiskBytes: 64 << 10)
    let files = NSTemporaryDirectory() + "denali-disk-image-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: files) }
    let site = try Self.site(in: files)
    var shared = try Guest.request("idler", count: 3)
    shared.diskImage = site
    let engine = try harness.start()
    defer { engine.shutdown() }
    let live = try engine.createVMs(shared).created
    #expect(live.count == 3 && live.allSatisfy { $0.diskBytes == UInt64(site.bytes.count) })
    // The three live VMs' image (counted per VM it would be 3 x its size) leaves the whole limit to scratch disks.
    let disked = try engine.createVMs(try Guest.request("idler", diskBytes: 64 << 10)).created
    #expect(disked.count == 1)
    // And the limit still binds scratch disks.
    let small = try Guest.request("null", diskBytes: 4096)
    let refused = refusal { () throws(ControlBackendError) in try engine.createVMs(small) }
    #expect(httpStatus(refused) == 409, "\(String(describing: refused))")
  }
}
