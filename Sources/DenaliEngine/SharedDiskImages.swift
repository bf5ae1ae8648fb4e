// SharedDiskImages.swift: the read-only disk images VMs share, one open file per stored image however many VMs
// use it (10,000 web servers on one site image hold one descriptor, not 10,000).
import ControlAPI
import DenaliCore

/// The engine's open read-only disk images, by image-store key. A disk stays open while a VM holds it; the table
/// keeps only weak references, so an image no VM uses any more is closed.
final class SharedDiskImages: Sendable {
  /// The store the images are kept in.
  private let store: ImageStore
  /// Open disks by key (weakly held).
  private let open = Locked<[String: WeakDisk]>([:])

  /// A table over `store`.
  init(store: ImageStore) { self.store = store }

  /// A weak reference to an open disk.
  private struct WeakDisk {
    weak var disk: DiskFile?
  }

  /// The disk of the image stored under `key`, read-only: the one already open, or opened now.
  func disk(forKey key: String) throws(ControlBackendError) -> DiskFile {
    try open.withLock { (table) throws(ControlBackendError) -> DiskFile in
      if let disk = table[key]?.disk { return disk }
      let file: (descriptor: Int32, path: String)
      do {
        file = try store.openReadOnly(key)
      } catch {
        throw .hostError("its disk image copy cannot be opened: \(error)")
      }
      let disk: DiskFile
      do {
        disk = try DiskFile(readOnlyDescriptor: file.descriptor, path: file.path)
      } catch {
        throw .hostError("its disk image copy is not a disk: \(error)")
      }
      // Entries of closed disks are dropped now and then, so the table stays as small as the set of open ones.
      if table.count >= 64 { table = table.filter { $0.value.disk != nil } }
      table[key] = WeakDisk(disk: disk)
      return disk
    }
  }
}
