// VMBuilder.swift: turns a VM record into a GuestVM (not yet in memory) with its console and its disk (a scratch
// disk of its own, or a shared read-only disk image).
import ControlAPI
import DenaliCore
import Glibc
import KVM

/// Builds the engine's VMs from their records, for create requests and for restarts.
struct VMBuilder {
  /// The KVM system VMs are created with.
  let system: KVMSystem
  /// Where scratch disks live.
  let layout: EngineBackend.StateLayout
  /// Console bytes kept per VM.
  let consoleBytes: Int
  /// The read-only disk images VMs share.
  let diskImages: SharedDiskImages

  /// A VM for `record`, waiting for admission, with `port` (its NIC on the switch) when given. With
  /// `restoringFrom` it resumes from that recovered swap image; otherwise it boots from `image`. With `freshDisk`
  /// its scratch disk is created anew, else the one it had is reopened (or created if it is gone). The caller
  /// keeps the port: it removes it from the switch when this throws.
  func build(
    _ record: VMRecord, image: GuestImage, restoringFrom swap: SwapFile?, requestedAt: UInt64?, freshDisk: Bool,
    port: NetworkPort? = nil
  ) throws(ControlBackendError) -> (entry: EngineEntry, guest: GuestVM) {
    var disk: DiskFile?
    var diskName: String?
    if let key = record.diskImageKey {
      disk = try diskImages.disk(forKey: key)
    } else if let size = record.diskSize {
      let name = EngineBackend.StateLayout.diskName(forVM: record.id)
      if freshDisk { layout.disks.remove(name) }
      do {
        disk = try DiskFile(directory: layout.disks, name: name, size: size, fresh: freshDisk)
      } catch {
        throw .hostError("cannot open the scratch disk of vm \(record.id): \(error)")
      }
      diskName = name
    }
    let console = ConsoleLog(capacity: consoleBytes, initial: record.console)
    let configuration = VMConfiguration(
      memorySize: record.memorySize, arguments: record.arguments, id: record.id, disk: disk, network: port)
    let sink: ConsoleDevice.Sink = { bytes in console.append(bytes) }
    let guest: GuestVM
    do {
      if let swap {
        guest = try GuestVM(
          system: system, image: image, configuration: configuration, restoringFrom: swap, console: sink)
      } else {
        guest = try GuestVM(system: system, image: image, configuration: configuration, resident: false, console: sink)
      }
    } catch {
      if let diskName, freshDisk { layout.disks.remove(diskName) }
      throw .invalid("cannot create a VM from this image: \(error)")
    }
    return (
      EngineEntry(record: record, console: console, requestedAt: requestedAt, diskName: diskName, port: port), guest
    )
  }
}
