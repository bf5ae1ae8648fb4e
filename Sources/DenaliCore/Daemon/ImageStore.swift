// ImageStore.swift: guest images kept in the state directory under a key made from their content.
import Foundation
import Glibc
import TrustedFiles

/// Guest images kept in the state directory by content, so the daemon can restart VMs whose image file has since changed or gone.
/// Read-only disk images VMs share are kept here too, the same way (their files also end in `.elf`: the name says
/// where it is kept, not what it holds).
///
/// Each image is `directory/<key>.elf`, where the key is the lowercase hex of a 64-bit FNV-1a over the bytes,
/// "-", and the byte count in decimal; a hash collision (same key, other bytes) gets "-2", "-3", ... appended.
public final class ImageStore: Sendable {
  /// The directory holding the images (its path, for messages).
  public let directory: String
  /// The directory, held open: every image file is reached through it, never through a link.
  private let handle: TrustedDirectory
  /// Serialises stores and removals, so a key's check and its file's creation are one step; holds the images
  /// already verified against their files, so that storing one again reads nothing back.
  private let lock: Locked<VerifiedImageCache>

  /// What a temporary file's name starts with (then a random hex number).
  static let temporaryPrefix = ".tmp-"

  /// Uses (creating if missing, mode 0700) `directory`, refused unless only the daemon's user can change it.
  public convenience init(directory: String) throws(ImageStoreError) {
    do {
      self.init(directory: try TrustedDirectory.open(directory, creating: .missingTarget(0o700)))
    } catch {
      if case .notADirectory = error { throw .notADirectory(path: directory) }
      throw .directory(error)
    }
  }

  /// Uses `directory` (the engine passes STATE/images-store, opened from the state directory).
  public convenience init(directory: TrustedDirectory) {
    self.init(directory: directory, cache: VerifiedImageCache())
  }

  /// Uses `directory`, remembering verified images in `cache` (tests give a small one).
  init(directory: TrustedDirectory, cache: VerifiedImageCache) {
    self.directory = directory.path
    handle = directory
    lock = Locked(cache)
  }

  /// Stores `bytes` once (write to temp + fsync + rename; skipped when an identical file is already there) and returns its key: lowercase hex of a 64-bit FNV-1a over the bytes, "-", the byte count in decimal. If a file with that key exists but its bytes differ (a hash collision), use key + "-2", "-3", ... Thread-safe.
  /// Bytes already verified against an unchanged file (`VerifiedImageCache`) are compared in memory; any
  /// other file is read back and compared in full.
  public func store(_ bytes: [UInt8]) throws(ImageStoreError) -> String {
    try lock.withLock { (cache) throws(ImageStoreError) -> String in
      if let kept = cache.lookUp(bytes) {
        if let status = handle.status(of: fileName(of: kept.key)),
          VerifiedImageCache.FileIdentity(status) == kept.identity
        {
          return kept.key
        }
        cache.forget(kept.key)
      }
      let base = Self.key(for: bytes)
      var key = base
      var suffix = 1
      while true {
        switch try compare(bytes, withFileNamed: fileName(of: key)) {
        case .same(let status):
          cache.keep(bytes, key: key, status: status)
          return key
        case .missing:
          try write(bytes, to: fileName(of: key))
          return key
        case .different:
          suffix += 1
          key = base + "-\(suffix)"
        }
      }
    }
  }

  /// Largest image the store keeps or gives back: the loader's own limit (a larger stored file is refused
  /// without being read).
  public static let maximumImageBytes = GuestImage.maximumFileSize

  /// The bytes stored under `key`; throws when missing, unreadable, not a regular file or larger than
  /// `maximumImageBytes`. Keys are validated (only [0-9a-f-] and digits; no "/" or ".."), else throws.
  public func load(_ key: String) throws(ImageStoreError) -> [UInt8] {
    guard Self.isValid(key) else { throw .badKey(key) }
    let name = fileName(of: key)
    let path = handle.path(of: name)
    let fd = handle.openFile(name, flags: O_RDONLY)
    guard fd >= 0 else {
      if errno == ENOENT { throw .missing(key: key, path: path) }
      throw .system(path: path, operation: "open", errno: errno)
    }
    defer { close(fd) }
    guard let bytes = readWholeFile(fd, limit: Self.maximumImageBytes) else {
      throw .system(path: path, operation: "read", errno: errno)
    }
    return bytes
  }

  /// The file stored under `key`, opened read-only (relative to the store's descriptor, never through a link),
  /// with its path for messages: a read-only disk image shares the store with the guest images (same keys).
  /// Throws for a bad key or a missing or unopenable file.
  public func openReadOnly(_ key: String) throws(ImageStoreError) -> (descriptor: Int32, path: String) {
    guard Self.isValid(key) else { throw .badKey(key) }
    let name = fileName(of: key)
    let fd = handle.openFile(name, flags: O_RDONLY)
    guard fd >= 0 else {
      if errno == ENOENT { throw .missing(key: key, path: handle.path(of: name)) }
      throw .system(path: handle.path(of: name), operation: "open", errno: errno)
    }
    return (fd, handle.path(of: name))
  }

  /// How many verified images are kept in memory (for tests).
  var verifiedImages: Int { lock.withLock { $0.count } }

  /// Deletes stored images whose key is not in `keys` (the engine calls it at startup with the keys its records use).
  /// Temporary files a crash left behind go too.
  public func removeAll(except keys: Set<String>) {
    lock.withLock { cache in
      cache.forgetAll(except: keys)
      for name in handle.names() {
        let isTemporary = name.hasPrefix(Self.temporaryPrefix)
        let isUnused = name.hasSuffix(".elf") && !keys.contains(String(name.dropLast(4)))
        if isTemporary || isUnused { handle.remove(name) }
      }
    }
  }

  /// The key of `bytes` before any collision suffix: 16 lowercase hex digits of their FNV-1a 64, "-", their count.
  static func key(for bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    bytes.withUnsafeBufferPointer { buffer in
      for byte in buffer {
        hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
      }
    }
    let digits = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits + "-\(bytes.count)"
  }

  /// True for a key this store could have made: 1-100 characters, each 0-9, a-f or "-" (so no "/" or "..").
  static func isValid(_ key: String) -> Bool {
    let utf8 = key.utf8
    return !utf8.isEmpty && utf8.count <= 100
      && utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || $0 == 0x2D }
  }

  /// The name of the file holding the image stored under `key`.
  private func fileName(of key: String) -> String { key + ".elf" }

  /// How a stored file relates to some bytes.
  private enum Comparison {
    case missing, different
    /// The file holds exactly the bytes; its status was taken before it was read.
    case same(stat)
  }

  /// Whether the file `name` is missing, holds exactly `bytes` (with its status, taken before reading), or holds
  /// something else.
  private func compare(_ bytes: [UInt8], withFileNamed name: String) throws(ImageStoreError) -> Comparison {
    let path = handle.path(of: name)
    let fd = handle.openFile(name, flags: O_RDONLY)
    guard fd >= 0 else {
      if errno == ENOENT { return .missing }
      throw .system(path: path, operation: "open", errno: errno)
    }
    defer { close(fd) }
    var status = stat()
    guard fstat(fd, &status) == 0 else { throw .system(path: path, operation: "fstat", errno: errno) }
    guard Int(status.st_size) == bytes.count else { return .different }
    guard let stored = readWholeFile(fd, limit: bytes.count) else {
      if errno == EFBIG { return .different }
      throw .system(path: path, operation: "read", errno: errno)
    }
    return stored == bytes ? .same(status) : .different
  }

  /// Writes `bytes` to a new temporary file, fsyncs it, renames it to `name` and fsyncs the directory, so the
  /// image is whole and durable before any journal entry names its key. On failure nothing is left behind.
  private func write(_ bytes: [UInt8], to name: String) throws(ImageStoreError) {
    var temporary: String
    var fd: Int32
    repeat {
      temporary = Self.temporaryPrefix + String(UInt64.random(in: 0...UInt64.max), radix: 16)
      fd = handle.createFile(temporary, flags: O_WRONLY)
    } while fd < 0 && (errno == EEXIST || errno == EINTR)
    let temporaryPath = handle.path(of: temporary)
    guard fd >= 0 else { throw .system(path: temporaryPath, operation: "open", errno: errno) }
    do throws(ImageStoreError) {
      guard writeAll(fd, bytes) else { throw .system(path: temporaryPath, operation: "write", errno: errno) }
      while fsync(fd) != 0 {
        guard errno == EINTR else { throw .system(path: temporaryPath, operation: "fsync", errno: errno) }
      }
      let closed = close(fd) == 0 || errno == EINTR  // Linux frees the descriptor even when close is interrupted
      fd = -1
      guard closed else { throw .system(path: temporaryPath, operation: "close", errno: errno) }
      guard handle.rename(temporary, to: name) else {
        throw .system(path: handle.path(of: name), operation: "rename", errno: errno)
      }
    } catch {
      if fd >= 0 { close(fd) }
      handle.remove(temporary)
      throw error
    }
    guard handle.sync() else { throw .system(path: directory, operation: "fsync", errno: errno) }
  }
}
