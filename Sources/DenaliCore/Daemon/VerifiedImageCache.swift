// VerifiedImageCache.swift: the image store's memory of images it has already compared with their stored
// files, so that storing one again compares in memory instead of reading the file back.
import Glibc

/// Images the store has verified byte for byte against their stored files, with each file's identity at that
/// moment (device, inode, size, change time). Bounded: at most `maximumImages` images and `maximumBytes` bytes,
/// the least recently used dropped first; an image larger than the byte bound is never kept. Guarded by the
/// store's lock (a plain value inside it).
///
/// A kept image stands for its file only while the file's identity is unchanged: any write to the file, a
/// rename over it or a change of its mode moves its change time (which no one but root can set back), so a
/// file changed after it was verified no longer matches and is compared in full again. A file whose change
/// time is too close to the moment of verification to tell a later change apart (timestamps are coarser than
/// the clock) is not kept (as git treats "racily clean" files).
struct VerifiedImageCache {
  /// What identifies one version of a file: any change to its content gives another value.
  struct FileIdentity: Equatable {
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let changeSeconds: Int
    let changeNanoseconds: Int
    let modificationSeconds: Int
    let modificationNanoseconds: Int

    /// The identity in `status`.
    init(_ status: stat) {
      device = UInt64(status.st_dev)
      inode = UInt64(status.st_ino)
      size = Int64(status.st_size)
      changeSeconds = status.st_ctim.tv_sec
      changeNanoseconds = status.st_ctim.tv_nsec
      modificationSeconds = status.st_mtim.tv_sec
      modificationNanoseconds = status.st_mtim.tv_nsec
    }
  }

  /// One verified image.
  private struct Entry {
    let key: String
    let bytes: [UInt8]
    let identity: FileIdentity
    var lastUsed: UInt64
  }

  /// Most images kept.
  let maximumImages: Int
  /// Most bytes of images kept, together.
  let maximumBytes: Int
  /// How much older than the clock a file's change time must be for the file to be kept, nanoseconds: by
  /// default well past the kernel's timestamp granularity (a jiffy, 1-10 ms).
  let settledNanoseconds: Int

  private var entries: [Entry] = []
  private var totalBytes = 0
  private var uses: UInt64 = 0

  /// An empty cache of at most `maximumImages` images and `maximumBytes` bytes, keeping files changed at least
  /// `settledNanoseconds` ago.
  init(maximumImages: Int = 64, maximumBytes: Int = 16 << 20, settledNanoseconds: Int = 200_000_000) {
    self.maximumImages = maximumImages
    self.maximumBytes = maximumBytes
    self.settledNanoseconds = max(0, settledNanoseconds)
  }

  /// Images kept (for tests).
  var count: Int { entries.count }

  /// The key of the kept image equal to `bytes` and the identity its file had when it was verified, or nil.
  mutating func lookUp(_ bytes: [UInt8]) -> (key: String, identity: FileIdentity)? {
    for index in entries.indices where entries[index].bytes.count == bytes.count {
      let same = entries[index].bytes.withUnsafeBytes { kept in
        bytes.withUnsafeBytes { wanted in
          guard let keptStart = kept.baseAddress, let wantedStart = wanted.baseAddress else { return kept.count == 0 }
          // SAFETY: both buffers hold `bytes.count` bytes (the counts were compared above).
          return memcmp(keptStart, wantedStart, kept.count) == 0
        }
      }
      if same {
        uses &+= 1
        entries[index].lastUsed = uses
        return (entries[index].key, entries[index].identity)
      }
    }
    return nil
  }

  /// Keeps `bytes`, just verified to be exactly the file stored under `key` whose status is `status`, unless
  /// the file changed too recently to be told apart from a later change, or the image exceeds the byte bound.
  mutating func keep(_ bytes: [UInt8], key: String, status: stat) {
    forget(key)
    guard bytes.count <= maximumBytes, maximumImages > 0, isSettled(status) else { return }
    while !entries.isEmpty && (entries.count >= maximumImages || totalBytes + bytes.count > maximumBytes) {
      guard let oldest = entries.indices.min(by: { entries[$0].lastUsed < entries[$1].lastUsed }) else { break }
      totalBytes -= entries[oldest].bytes.count
      entries.remove(at: oldest)
    }
    uses &+= 1
    entries.append(Entry(key: key, bytes: bytes, identity: FileIdentity(status), lastUsed: uses))
    totalBytes += bytes.count
  }

  /// Drops the image kept under `key`, if any.
  mutating func forget(_ key: String) {
    guard let index = entries.firstIndex(where: { $0.key == key }) else { return }
    totalBytes -= entries[index].bytes.count
    entries.remove(at: index)
  }

  /// Drops every image whose key is not in `keys`.
  mutating func forgetAll(except keys: Set<String>) {
    entries.removeAll { !keys.contains($0.key) }
    totalBytes = entries.reduce(0) { $0 + $1.bytes.count }
  }

  /// True when the file's change time is at least `settledNanoseconds` before the real-time clock now (a
  /// change time in the future, after the clock was set back, is not settled).
  func isSettled(_ status: stat) -> Bool {
    let (seconds, overflow) = status.st_ctim.tv_sec.multipliedReportingOverflow(by: 1_000_000_000)
    let (changed, carry) = seconds.addingReportingOverflow(status.st_ctim.tv_nsec)
    let (settled, late) = changed.addingReportingOverflow(settledNanoseconds)
    guard !overflow, !carry, !late else { return false }
    return settled <= Int(truncatingIfNeeded: wallClockNanoseconds())
  }
}
