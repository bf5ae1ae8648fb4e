// PlantedLinkTests.swift: a local user who pre-creates the daemon's directories, or plants symbolic links at the
// names of its state files, cannot make it write anywhere else: untrusted directories are refused, links are
// never followed, and a directory swapped for a link after it was opened does not redirect anything.
import Foundation
import Glibc
import KVM
import Testing
import TrustedFiles

@testable import DenaliCore

@Suite("Planted links and untrusted state directories")
struct PlantedLinkTests {
  /// The uid of `nobody`, the stand-in for another local user.
  static let otherUser: uid_t = 65534

  /// A fresh directory (mode 0700) under /tmp for one test, removed afterwards by the caller.
  func makeDirectory() throws -> String {
    let path = "/tmp/denali-planted-\(UUID().uuidString)"
    try FileManager.default.createDirectory(
      atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    return path
  }

  /// A victim file outside the state directory holding `victimText`.
  static let victimText = "root's file: must never change\n"

  func makeVictim(in directory: String) throws -> String {
    let path = directory + "/victim"
    try Data(Self.victimText.utf8).write(to: URL(fileURLWithPath: path))
    return path
  }

  func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

  /// Memory with a few non-zero pages, for swap-outs.
  func memory() throws -> GuestMemory {
    let memory = try GuestMemory(size: 2 << 20)
    for page in [1, 7] { try memory.write(UInt64(0x4242_4242), at: UInt64(page * 4096)) }
    return memory
  }

  @Test("a pre-created state directory owned by another user, or writable by others, is refused for every store")
  func untrustedStateDirectory() throws {
    guard geteuid() == 0 else {
      print("skipping: needs root to give a directory to another user")
      return
    }
    let base = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: base) }
    let owned = base + "/owned-by-nobody"
    // Modes set explicitly, not left to the test process's umask.
    try FileManager.default.createDirectory(atPath: owned, withIntermediateDirectories: false)
    #expect(chmod(owned, 0o755) == 0)
    #expect(chown(owned, Self.otherUser, Self.otherUser) == 0)
    let open = base + "/mode-0777"
    try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: false)
    #expect(chmod(open, 0o777) == 0)
    // A parent directory another user owns is as bad: they could swap `state` for a link.
    let parent = base + "/parent-owned-by-nobody"
    try FileManager.default.createDirectory(atPath: parent + "/state", withIntermediateDirectories: true)
    #expect(chmod(parent, 0o755) == 0 && chmod(parent + "/state", 0o755) == 0)
    #expect(chown(parent, Self.otherUser, Self.otherUser) == 0)
    for (directory, culprit, owner, mode) in [
      (owned, owned, Self.otherUser, "0755"), (open, open, 0, "0777"),
      (parent + "/state", parent, Self.otherUser, "0755"),
    ] {
      let expected = TrustedDirectoryError.untrusted(
        path: culprit, owner: owner, mode: S_IFDIR | (mode == "0777" ? 0o777 : 0o755), isTarget: culprit == directory)
      #expect(throws: SwapError.directory(expected)) { try SwapStore(directory: directory) }
      #expect(throws: VMJournalError.directory(expected)) { try VMJournal(directory: directory) }
      #expect(throws: ImageStoreError.directory(expected)) { try ImageStore(directory: directory) }
      let message = SwapError.directory(expected).description
      #expect(message.contains("refusing \(culprit): it belongs to uid \(owner) and has mode \(mode)"), "\(message)")
      #expect(
        !FileManager.default.fileExists(atPath: directory + "/vms.journal"), "nothing was created in \(directory)")
    }
  }

  @Test("a link planted at the journal's name leaves its target untouched (open and rewrite)")
  func journalLink() throws {
    let base = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: base) }
    let victim = try makeVictim(in: base)
    let state = base + "/state"
    try FileManager.default.createDirectory(
      atPath: state, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    #expect(symlink(victim, state + "/vms.journal") == 0)
    #expect(throws: VMJournalError.system(path: state + "/vms.journal", operation: "open", errno: ELOOP)) {
      try VMJournal(directory: state)
    }
    #expect(contents(victim) == Self.victimText)
    // A rewrite renames its new file over the name: the link is replaced, never written through.
    unlink(state + "/vms.journal")
    let journal = try VMJournal(directory: state)
    defer { journal.close() }
    #expect(unlink(state + "/vms.journal") == 0)
    #expect(symlink(victim, state + "/vms.journal") == 0)
    try journal.rewrite([
      VMRecord(
        id: 1, name: nil, imagePath: "/i/hello.elf", imageKey: "0123456789abcdef-1", memorySize: 2 << 20, diskSize: nil,
        arguments: [], createdAt: 1)
    ])
    #expect(contents(victim) == Self.victimText)
    var status = stat()
    #expect(lstat(state + "/vms.journal", &status) == 0 && status.st_mode & S_IFMT == S_IFREG)
  }

  @Test("links planted at a swap file's names (the file and its .new) leave their targets untouched")
  func swapLinks() throws {
    let base = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: base) }
    let victim = try makeVictim(in: base)
    let state = base + "/swap"
    let store = try SwapStore(directory: state)
    #expect(symlink(victim, state + "/vm-1.swap") == 0)
    #expect(symlink(victim, state + "/vm-1.swap.new") == 0)
    let file = SwapFile(path: store.path(forVM: 1), vmID: 1, memorySize: 2 << 20)
    #expect(throws: SwapError.self) { try file.recover() }  // a link is not a swap file
    try file.complete(try file.write(memory: try memory(), state: [1], previous: nil, changed: nil))
    #expect(contents(victim) == Self.victimText)
    var status = stat()
    #expect(lstat(state + "/vm-1.swap", &status) == 0 && status.st_mode & S_IFMT == S_IFREG)
    // An incremental write opens the existing file: a link put there meanwhile is refused, not written through.
    unlink(state + "/vm-1.swap")
    #expect(symlink(victim, state + "/vm-1.swap") == 0)
    #expect(throws: SwapError.system(path: state + "/vm-1.swap", operation: "open", errno: ELOOP)) {
      var changed = PageBitmap(pageCount: 512)
      changed.insert(1)
      _ = try file.write(memory: try memory(), state: [2], previous: [], changed: changed)
    }
    #expect(contents(victim) == Self.victimText)
  }

  @Test("a link planted at an image's name in the store is refused and its target left untouched")
  func imageStoreLink() throws {
    let base = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: base) }
    let victim = try makeVictim(in: base)
    let store = try ImageStore(directory: base + "/images-store")
    let bytes = Array("an image".utf8)
    let key = ImageStore.key(for: bytes)
    #expect(symlink(victim, base + "/images-store/\(key).elf") == 0)
    #expect(throws: ImageStoreError.self) { try store.store(bytes) }
    #expect(throws: ImageStoreError.self) { try store.load(key) }
    #expect(contents(victim) == Self.victimText)
  }

  @Test("a scratch disk's name planted with a link is replaced, never opened through")
  func diskLink() throws {
    let base = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: base) }
    let victim = base + "/victim-disk"
    let original = [UInt8](repeating: 0x5A, count: 8192)
    try Data(original).write(to: URL(fileURLWithPath: victim))
    let disks = try TrustedDirectory.open(base)
    #expect(symlink(victim, base + "/vm-1.img") == 0)
    #expect(throws: DiskFileError.system(path: base + "/vm-1.img", operation: "open", errno: ELOOP)) {
      try DiskFile(directory: disks, name: "vm-1.img", size: 8192, fresh: false)
    }
    #expect(throws: DiskFileError.system(path: base + "/vm-1.img", operation: "open", errno: EEXIST)) {
      try DiskFile(directory: disks, name: "vm-1.img", size: 8192, fresh: true)
    }
    #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: victim))) == original)
  }

  @Test("a state directory swapped for a link after it was opened does not redirect the journal, swap or images")
  func directorySwappedForLink() throws {
    let base = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: base) }
    let state = base + "/state"
    let journal = try VMJournal(directory: state)
    defer { journal.close() }
    let store = try SwapStore(directory: state + "/swap")
    let images = try ImageStore(directory: state + "/images-store")
    // The swap: the directory the daemon checked moves away, and a link to the attacker's directory takes its place.
    let elsewhere = base + "/attacker"
    try FileManager.default.createDirectory(atPath: elsewhere + "/swap", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: elsewhere + "/images-store", withIntermediateDirectories: true)
    #expect(rename(state, base + "/moved") == 0)
    #expect(symlink(elsewhere, state) == 0)

    try journal.recordCreated([
      VMRecord(
        id: 1, name: nil, imagePath: "/i/hello.elf", imageKey: "0123456789abcdef-1", memorySize: 2 << 20, diskSize: nil,
        arguments: [], createdAt: 1)
    ])
    try journal.rewrite(journal.recovered)
    let file = SwapFile(store: store, vmID: 3, memorySize: 2 << 20)
    try file.complete(try file.write(memory: try memory(), state: [1], previous: nil, changed: nil))
    let key = try images.store(Array("image bytes".utf8))

    #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere + "/swap").isEmpty)
    #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere + "/images-store").isEmpty)
    #expect(!FileManager.default.fileExists(atPath: elsewhere + "/vms.journal"))
    #expect(FileManager.default.fileExists(atPath: base + "/moved/swap/vm-3.swap"))
    #expect(FileManager.default.fileExists(atPath: base + "/moved/images-store/\(key).elf"))
    #expect(FileManager.default.fileExists(atPath: base + "/moved/vms.journal"))
  }
}
