// ImageStoreTests.swift: the content-addressed image store on real files: keys, deduplication, loading,
// key validation, clean-up and hash collisions.
import Foundation
import Glibc
import Synchronization
import Testing
import TrustedFiles

@testable import DenaliCore

@Suite("Image store")
struct ImageStoreTests {
  /// A fresh state directory under /tmp for one test (the store goes in `images-store` inside), removed by the caller.
  func makeDirectory() throws -> String {
    let path = "/tmp/denali-images-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// The names of the files in `directory`, sorted.
  func files(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
  }

  @Test("the store directory is created with mode 0700; a file in its place is refused")
  func createsDirectory() throws {
    let state = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: state) }
    let store = try ImageStore(directory: state + "/images-store")
    let attributes = try FileManager.default.attributesOfItem(atPath: store.directory)
    #expect(attributes[.type] as? FileAttributeType == .typeDirectory)
    #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o700)
    _ = try ImageStore(directory: state + "/images-store")  // an existing directory is fine

    #expect(FileManager.default.createFile(atPath: state + "/plain", contents: Data([1])))
    #expect(throws: ImageStoreError.notADirectory(path: state + "/plain")) {
      try ImageStore(directory: state + "/plain")
    }
  }

  @Test("the same bytes give the same key and one file; the key is FNV-1a 64 in hex, a dash and the size")
  func sameBytes() throws {
    let state = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: state) }
    let store = try ImageStore(directory: state + "/images-store")
    let bytes = Array("hello".utf8)
    let key = try store.store(bytes)
    #expect(key == "a430d84680aabd0b-5")  // FNV-1a 64 of "hello"
    #expect(try store.store(bytes) == key)
    #expect(try files(store.directory) == [key + ".elf"])
    #expect(try store.store([]) == "cbf29ce484222325-0")  // the FNV offset basis
    #expect(ImageStore.key(for: [0x61]) == "af63dc4c8601ec8c-1")  // FNV-1a 64 of "a"
  }

  @Test("different bytes give different keys and files")
  func differentBytes() throws {
    let state = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: state) }
    let store = try ImageStore(directory: state + "/images-store")
    let first = try store.store([1, 2, 3])
    let second = try store.store([1, 2, 4])
    let third = try store.store([1, 2, 3, 0])
    #expect(Set([first, second, third]).count == 3)
    #expect(try files(store.directory) == [first, second, third].map { $0 + ".elf" }.sorted())
  }

  @Test("load gives back exactly what was stored, also after reopening the store")
  func loadRoundTrip() throws {
    let state = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: state) }
    let store = try ImageStore(directory: state + "/images-store")
    let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
    let key = try store.store(bytes)
    #expect(try store.load(key) == bytes)
    #expect(try ImageStore(directory: state + "/images-store").load(key) == bytes)
    #expect(throws: ImageStoreError.missing(key: "0123-4", path: store.directory + "/0123-4.elf")) {
      try store.load("0123-4")
    }
  }

  @Test(
    "keys that could name another file are refused", arguments: ["../x", "a/b", "", "..", "ABC-1", "abc.elf", "abc-1 "])
  func badKey(key: String) throws {
    let state = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: state) }
    let store = try ImageStore(directory: state + "/images-store")
    #expect(throws: ImageStoreError.badKey(key)) { try store.load(key) }
  }

  @Test("removeAll(except:) deletes only the images not named, and leftover temporary files")
  func removeAllExcept() throws {
    let state = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: state) }
    let store = try ImageStore(directory: state + "/images-store")
    let keys = try (0..<4).map { try store.store([UInt8($0), 9, 9]) }
    #expect(FileManager.default.createFile(atPath: store.directory + "/.tmp-1234", contents: Data([1])))
    store.removeAll(except: [keys[1], keys[3], "ffff-1"])
    #expect(try files(store.directory) == [keys[1] + ".elf", keys[3] + ".elf"].sorted())
    #expect(try store.load(keys[1]) == [1, 9, 9])
    #expect(throws: ImageStoreError.self) { try store.load(keys[0]) }
  }

  @Test("a hash collision (other bytes under the key) gets -2, then -3; the first file is untouched")
  func collision() throws {
    let state = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: state) }
    let store = try ImageStore(directory: state + "/images-store")
    let bytes: [UInt8] = [7, 7, 7, 7]
    let key = ImageStore.key(for: bytes)
    let impostor = Data([1, 2, 3, 4])
    #expect(FileManager.default.createFile(atPath: store.directory + "/\(key).elf", contents: impostor))
    #expect(try store.store(bytes) == key + "-2")
    #expect(try store.store(bytes) == key + "-2", "stored once: found again under -2")
    #expect(try store.load(key + "-2") == bytes)
    #expect(try store.load(key) == [UInt8](impostor))

    #expect(FileManager.default.createFile(atPath: store.directory + "/\(key)-3.elf", contents: Data([9])))
    let other: [UInt8] = [8, 8, 8, 8]
    let otherKey = ImageStore.key(for: other)
    #expect(FileManager.default.createFile(atPath: store.directory + "/\(otherKey).elf", contents: impostor))
    #expect(FileManager.default.createFile(atPath: store.directory + "/\(otherKey)-2.elf", contents: Data(bytes)))
    #expect(try store.store(other) == otherKey + "-3")
  }

  @Test("stores of the same bytes from several threads agree on one key and one file")
  func concurrentStores() throws {
    let state = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: state) }
    let store = try ImageStore(directory: state + "/images-store")
    let bytes = [UInt8](repeating: 0x5A, count: 100_000)
    let keys = Locked<Set<String>>([])
    DispatchQueue.concurrentPerform(iterations: 8) { _ in
      do {
        let key = try store.store(bytes)
        keys.withLock { _ = $0.insert(key) }
      } catch {
        Issue.record("store failed: \(error)")
      }
    }
    #expect(keys.withLock { $0 } == [ImageStore.key(for: bytes)])
    #expect(try files(store.directory).count == 1)
  }

  /// A store in `state/images-store` that keeps verified images in a cache of `images` images and `bytes` bytes,
  /// keeping files however recently they changed.
  func cachingStore(_ state: String, images: Int = 8, bytes: Int = 1 << 20) throws -> ImageStore {
    let directory = try TrustedDirectory.open(state + "/images-store", creating: .missingTarget(0o700))
    return ImageStore(
      directory: directory,
      cache: VerifiedImageCache(maximumImages: images, maximumBytes: bytes, settledNanoseconds: 0))
  }

  /// Overwrites the first bytes of `path` in place with `bytes` (same inode).
  func overwrite(_ path: String, with bytes: [UInt8]) {
    let fd = open(path, O_WRONLY)
    #expect(fd >= 0)
    #expect(pwrite(fd, bytes, bytes.count, 0) == bytes.count)
    close(fd)
  }

  @Test("a verified image is kept in memory; a file changed in place after that is found out, not trusted")
  func changedAfterVerification() throws {
    let state = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: state) }
    let store = try cachingStore(state)
    let bytes = [UInt8](repeating: 0x42, count: 4096)
    let key = try store.store(bytes)  // written: nothing verified yet
    #expect(store.verifiedImages == 0)
    #expect(try store.store(bytes) == key)  // read back, compared, kept
    #expect(store.verifiedImages == 1)
    #expect(try store.store(bytes) == key)
    overwrite(store.directory + "/\(key).elf", with: [0x43])  // same size, same inode, other bytes
    #expect(try store.store(bytes) == key + "-2", "the changed file is read back and found different")
    #expect(try store.load(key + "-2") == bytes)
    #expect(try store.load(key).first == 0x43, "the changed file is left as it is")
  }

  @Test("a verified image whose file was replaced (a rename over it, or a link planted) is compared again")
  func replacedAfterVerification() throws {
    let state = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: state) }
    let store = try cachingStore(state)
    let bytes = [UInt8](repeating: 0x17, count: 1000)
    let key = try store.store(bytes)
    _ = try store.store(bytes)
    #expect(store.verifiedImages == 1)
    let path = store.directory + "/\(key).elf"
    var impostor = bytes
    impostor[999] = 0
    #expect(FileManager.default.createFile(atPath: state + "/impostor", contents: Data(impostor)))
    #expect(rename(state + "/impostor", path) == 0)
    #expect(try store.store(bytes) == key + "-2")

    // A link to a file with the very same bytes, in place of the verified file: refused as it is without a cache.
    let other = [UInt8](repeating: 0x18, count: 1000)
    let otherKey = try store.store(other)
    _ = try store.store(other)
    #expect(FileManager.default.createFile(atPath: state + "/same", contents: Data(other)))
    #expect(unlink(store.directory + "/\(otherKey).elf") == 0)
    #expect(symlink(state + "/same", store.directory + "/\(otherKey).elf") == 0)
    #expect(throws: ImageStoreError.self) { try store.store(other) }
  }

  @Test("the cache is bounded: at most its count of images, none larger than its byte bound")
  func boundedCache() throws {
    let state = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: state) }
    let store = try cachingStore(state, images: 2, bytes: 3000)
    let images = (0..<3).map { [UInt8](repeating: UInt8($0), count: 1000) }
    for image in images {
      _ = try store.store(image)
      _ = try store.store(image)
    }
    #expect(store.verifiedImages == 2)
    let large = [UInt8](repeating: 9, count: 3001)
    let key = try store.store(large)
    #expect(try store.store(large) == key)
    #expect(store.verifiedImages == 2, "an image over the byte bound is not kept")
    store.removeAll(except: [])
    #expect(store.verifiedImages == 0)
  }

  @Test("a file changed moments ago is not kept (its change time could not tell a later change apart)")
  func recentFileNotKept() throws {
    let state = try makeDirectory()
    defer { try? FileManager.default.removeItem(atPath: state) }
    let store = try ImageStore(directory: state + "/images-store")
    let bytes: [UInt8] = [1, 2, 3, 4, 5]
    let key = try store.store(bytes)
    #expect(try store.store(bytes) == key)
    #expect(store.verifiedImages == 0)
  }
}
