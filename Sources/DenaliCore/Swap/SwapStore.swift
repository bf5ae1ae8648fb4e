// SwapStore.swift: the state directory that holds every VM's swap file, and the sync that makes a batch of
// swap-outs durable at once.
import CSwapSupport
import Glibc

/// The directory of swap files: names them and syncs its file system.
public final class SwapStore: Sendable {
  /// The directory.
  public let directory: String

  /// Uses (and creates, mode 0700) `directory`.
  public init(directory: String) throws(SwapError) {
    if let failure = makePrivateDirectory(directory) {
      throw .system(path: directory, operation: failure.operation, errno: failure.errno)
    }
    self.directory = directory
  }

  /// The path of VM `id`'s swap file.
  public func path(forVM id: UInt64) -> String { "\(directory)/vm-\(id).swap" }

  /// Makes every write so far to files in the store durable (one `syncfs` for a whole batch of swap-outs,
  /// which also makes renames in the directory durable).
  func sync() throws(SwapError) {
    let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw .system(path: directory, operation: "open", errno: errno) }
    defer { close(fd) }
    guard swap_syncfs(fd) == 0 else { throw .system(path: directory, operation: "syncfs", errno: errno) }
  }

  /// Bytes of disk the store's files occupy (allocated blocks, so holes and sparse files count as used).
  public func diskUsage() -> UInt64 {
    guard let handle = opendir(directory) else { return 0 }
    defer { closedir(handle) }
    var total: UInt64 = 0
    while let entry = readdir(handle) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      guard name.hasPrefix("vm-") else { continue }
      var status = stat()
      if stat("\(directory)/\(name)", &status) == 0 { total += UInt64(status.st_blocks) * 512 }
    }
    return total
  }
}
