// SwapStore.swift: the state directory that holds every VM's swap file, and the sync that makes a batch of
// swap-outs durable at once.
import CSwapSupport
import Glibc
import TrustedFiles

/// The directory of swap files, held open by descriptor: names them and syncs its file system.
public final class SwapStore: Sendable {
  /// The directory's path (for messages and `path(forVM:)`).
  public let directory: String
  /// The directory itself: swap files are reached only through it.
  let handle: TrustedDirectory

  /// Uses (and creates, mode 0700) `directory`, refused unless only the daemon's user can change it.
  public convenience init(directory: String) throws(SwapError) {
    do {
      self.init(directory: try TrustedDirectory.open(directory, creating: .missingTarget(0o700)))
    } catch {
      throw .directory(error)
    }
  }

  /// Uses `directory` (opened and checked by the caller).
  public init(directory: TrustedDirectory) {
    self.directory = directory.path
    handle = directory
  }

  /// The path of VM `id`'s swap file (for messages: `SwapFile(store:vmID:memorySize:)` reaches the file
  /// through this store's descriptor).
  public func path(forVM id: UInt64) -> String { handle.path(of: Self.fileName(forVM: id)) }

  /// The name of VM `id`'s swap file in the directory.
  public static func fileName(forVM id: UInt64) -> String { "vm-\(id).swap" }

  /// Makes every write so far to files in the store durable (one `syncfs` for a whole batch of swap-outs,
  /// which also makes renames in the directory durable).
  func sync() throws(SwapError) {
    guard swap_syncfs(handle.descriptor) == 0 else { throw .system(path: directory, operation: "syncfs", errno: errno) }
  }

  /// Bytes of disk the store's files occupy (allocated blocks, so holes and sparse files count as used).
  public func diskUsage() -> UInt64 {
    var total: UInt64 = 0
    for name in handle.names() where name.hasPrefix("vm-") {
      if let status = handle.status(of: name) { total += UInt64(status.st_blocks) * 512 }
    }
    return total
  }
}
