// ImageStore.swift: guest images kept in the state directory under a key made from their content.
import Foundation
import Glibc

/// Guest images kept in the state directory by content, so the daemon can restart VMs whose image file has since changed or gone.
///
/// Each image is `directory/<key>.elf`, where the key is the lowercase hex of a 64-bit FNV-1a over the bytes,
/// "-", and the byte count in decimal; a hash collision (same key, other bytes) gets "-2", "-3", ... appended.
public final class ImageStore: Sendable {
  /// The directory holding the images.
  public let directory: String
  /// Serialises stores and removals, so a key's check and its file's creation are one step.
  private let lock = Locked(())

  /// What a temporary file's name starts with (then a random hex number).
  static let temporaryPrefix = ".tmp-"

  /// Uses (creating if missing, mode 0700) `directory` (the engine passes STATE/images-store).
  public init(directory: String) throws(ImageStoreError) {
    if let failure = makePrivateDirectory(directory) {
      if failure.errno == ENOTDIR { throw .notADirectory(path: directory) }
      throw .system(path: directory, operation: failure.operation, errno: failure.errno)
    }
    self.directory = directory
  }

  /// Stores `bytes` once (write to temp + fsync + rename; skipped when an identical file is already there) and returns its key: lowercase hex of a 64-bit FNV-1a over the bytes, "-", the byte count in decimal. If a file with that key exists but its bytes differ (a hash collision), use key + "-2", "-3", ... Thread-safe.
  public func store(_ bytes: [UInt8]) throws(ImageStoreError) -> String {
    let base = Self.key(for: bytes)
    return try lock.withLock { (_) throws(ImageStoreError) -> String in
      var key = base
      var suffix = 1
      while true {
        switch try compare(bytes, withFileAt: path(of: key)) {
        case .same: return key
        case .missing:
          try write(bytes, to: path(of: key))
          return key
        case .different:
          suffix += 1
          key = base + "-\(suffix)"
        }
      }
    }
  }

  /// The bytes stored under `key`; throws when missing or unreadable. Keys are validated (only [0-9a-f-] and digits; no "/" or ".."), else throws.
  public func load(_ key: String) throws(ImageStoreError) -> [UInt8] {
    guard Self.isValid(key) else { throw .badKey(key) }
    let path = path(of: key)
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      if errno == ENOENT { throw .missing(key: key, path: path) }
      throw .system(path: path, operation: "open", errno: errno)
    }
    defer { close(fd) }
    guard let bytes = readWholeFile(fd) else { throw .system(path: path, operation: "read", errno: errno) }
    return bytes
  }

  /// Deletes stored images whose key is not in `keys` (the engine calls it at startup with the keys its records use).
  /// Temporary files a crash left behind go too.
  public func removeAll(except keys: Set<String>) {
    lock.withLock { _ in
      guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
      for name in names {
        let isTemporary = name.hasPrefix(Self.temporaryPrefix)
        let isUnused = name.hasSuffix(".elf") && !keys.contains(String(name.dropLast(4)))
        if isTemporary || isUnused { unlink(directory + "/" + name) }
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

  /// The file holding the image stored under `key`.
  private func path(of key: String) -> String {
    directory + "/" + key + ".elf"
  }

  /// How a stored file relates to some bytes.
  private enum Comparison {
    case missing, same, different
  }

  /// Whether the file at `path` is missing, holds exactly `bytes`, or holds something else.
  private func compare(_ bytes: [UInt8], withFileAt path: String) throws(ImageStoreError) -> Comparison {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      if errno == ENOENT { return .missing }
      throw .system(path: path, operation: "open", errno: errno)
    }
    defer { close(fd) }
    var status = stat()
    guard fstat(fd, &status) == 0 else { throw .system(path: path, operation: "fstat", errno: errno) }
    guard Int(status.st_size) == bytes.count else { return .different }
    guard let stored = readWholeFile(fd) else { throw .system(path: path, operation: "read", errno: errno) }
    return stored == bytes ? .same : .different
  }

  /// Writes `bytes` to a temporary file, fsyncs it, renames it to `path` and fsyncs the directory, so the
  /// image is whole and durable before any journal entry names its key. On failure nothing is left behind.
  private func write(_ bytes: [UInt8], to path: String) throws(ImageStoreError) {
    var temporary: String
    var fd: Int32
    repeat {
      temporary = directory + "/" + Self.temporaryPrefix + String(UInt64.random(in: 0...UInt64.max), radix: 16)
      fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    } while fd < 0 && (errno == EEXIST || errno == EINTR)
    guard fd >= 0 else { throw .system(path: temporary, operation: "open", errno: errno) }
    do throws(ImageStoreError) {
      guard writeAll(fd, bytes) else { throw .system(path: temporary, operation: "write", errno: errno) }
      while fsync(fd) != 0 {
        guard errno == EINTR else { throw .system(path: temporary, operation: "fsync", errno: errno) }
      }
      let closed = close(fd) == 0 || errno == EINTR  // Linux frees the descriptor even when close is interrupted
      fd = -1
      guard closed else { throw .system(path: temporary, operation: "close", errno: errno) }
      guard rename(temporary, path) == 0 else { throw .system(path: path, operation: "rename", errno: errno) }
    } catch {
      if fd >= 0 { close(fd) }
      unlink(temporary)
      throw error
    }
    if let operation = syncDirectory(directory) {
      throw .system(path: directory, operation: operation, errno: errno)
    }
  }
}
