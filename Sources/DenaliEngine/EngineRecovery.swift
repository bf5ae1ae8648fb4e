// EngineRecovery.swift: what the engine finds in its state directory at start: the VMs to resume (from their
// last complete swap image, else from their image) and the finished ones it still lists.
import ControlAPI
import DenaliCore
import Foundation
import KVM
import Logging
import TrustedFiles

/// The VMs rebuilt from the journal and the swap files of a previous run.
struct EngineRecovery {
  /// Every VM kept, finished ones included, in id order.
  var entries: [EngineEntry] = []
  /// The live VMs, ready to submit.
  var guests: [GuestVM] = []
  /// The first id new VMs may take.
  var nextID: UInt64 = 1
  /// VMs resumed from a swap image.
  var fromSwap = 0
  /// VMs restarted from their image (no complete swap image).
  var fromImage = 0
  /// VMs that could not be restarted (recorded as faulted).
  var failed = 0
  /// True when the previous run stopped cleanly (every VM was swapped out and the table written).
  var previousStopWasClean = true

  /// Rebuilds the VMs the journal holds. Live VMs resume from their swap file when it has a complete image, else
  /// boot again from the stored copy of their image; a VM that cannot be rebuilt is recorded as faulted. A live VM
  /// with an address gets its port back at that address on `network`; when it cannot (no network now, the address
  /// outside it or the gateway's, or taken by a VM with a lower id: a hostile journal), it runs without a NIC
  /// and keeps the address in its record for a later restart. Swap files and disks of VMs no longer live are
  /// removed, and the journal is rewritten to the recovered table.
  static func recover(
    journal: VMJournal, images: ImageStore, swapStore: SwapStore, builder: VMBuilder, network: EngineNetwork?,
    keptFinishedVMs: Int, firstID: UInt64 = 1, logger: Logger
  ) -> EngineRecovery {
    var recovery = EngineRecovery()
    recovery.nextID = firstID
    let layout = builder.layout
    recovery.previousStopWasClean = layout.root.contains(EngineBackend.StateLayout.cleanStopMarker)
    layout.root.remove(EngineBackend.StateLayout.cleanStopMarker)
    let records = journal.recovered
    // Ids of VMs already forgotten (and compacted away) are never given out again.
    recovery.nextID = max(recovery.nextID, journal.recoveredNextID)
    // A VM process gives out ids from its own range only (the daemon finds a VM's process from its id's leading
    // digits): a record outside it was not written by this process, and a next id past it would overflow into the
    // next process's range.
    let range = firstID / WorkerPoolBackend.idRange * WorkerPoolBackend.idRange
    let rangeEnd = range + WorkerPoolBackend.idRange
    if recovery.nextID >= rangeEnd { recovery.nextID = firstID }
    var outOfRange = 0
    if journal.skippedEntries > 0 {
      // A skipped creation is a VM skipped: its record is torn, corrupt or out of bounds (the reason says which).
      logger.warning(
        "the VM journal had \(journal.skippedEntries) torn, corrupt or out-of-bounds entries; they were skipped: \(journal.skippedReasons.joined(separator: "; "))"
      )
    }
    defer {
      if outOfRange > 0 {
        logger.warning("the VM journal had \(outOfRange) VMs with ids outside this process's range: they were skipped")
      }
    }
    let now = Date().timeIntervalSince1970
    var liveIDs = Set<UInt64>()
    var finished: [EngineEntry] = []
    // VMs of one image and memory size share one loaded image, as VMs created by one request do.
    var loadedImages: [String: GuestImage] = [:]
    for var record in records {
      guard record.id >= range, record.id < rangeEnd - 1 else {
        outOfRange += 1
        continue
      }
      recovery.nextID = max(recovery.nextID, record.id + 1)
      if record.end != nil {
        finished.append(finishedEntry(record, consoleBytes: builder.consoleBytes))
        continue
      }
      record.restarts = min(record.restarts, VMRecord.maximumRestarts - 1) + 1
      do throws(ControlBackendError) {
        let (built, fromSwap) = try rebuild(
          &record, images: images, loadedImages: &loadedImages, swapStore: swapStore, builder: builder,
          network: network, logger: logger)
        recovery.entries.append(built.entry)
        recovery.guests.append(built.guest)
        liveIDs.insert(record.id)
        if fromSwap { recovery.fromSwap += 1 } else { recovery.fromImage += 1 }
      } catch {
        logger.error("vm \(record.id) cannot be restarted: \(error)")
        record.end = .faulted(description: "not restarted: \(error)")
        record.endedAt = now
        recovery.failed += 1
        finished.append(finishedEntry(record, consoleBytes: builder.consoleBytes))
      }
    }
    let keptFinished = finished.sorted {
      ($0.record.endedAt ?? 0, $0.record.id) < ($1.record.endedAt ?? 0, $1.record.id)
    }
    .suffix(keptFinishedVMs)
    recovery.entries = (recovery.entries + keptFinished).sorted { $0.record.id < $1.record.id }
    removeStrays(in: layout.swap, keeping: liveIDs)
    removeStrays(in: layout.disks, keeping: liveIDs)
    images.removeAll(
      except: Set(recovery.entries.flatMap { [$0.record.imageKey] + ($0.record.diskImageKey.map { [$0] } ?? []) }))
    do {
      try journal.rewrite(recovery.entries.map(\.record), nextID: recovery.nextID)
    } catch {
      logger.error("cannot rewrite the VM journal after recovery (the old one stays valid): \(error)")
    }
    return recovery
  }

  /// The entry of a VM that has ended: its kept console, closed.
  private static func finishedEntry(_ record: VMRecord, consoleBytes: Int) -> EngineEntry {
    let entry = EngineEntry(
      record: record, console: ConsoleLog(capacity: consoleBytes, initial: record.console), requestedAt: nil,
      diskName: nil)
    entry.console.close()
    return entry
  }

  /// One live VM from its record: from its swap file when that holds a complete image, else from its image.
  /// `loadedImages` holds the images loaded so far, by image key and memory size.
  private static func rebuild(
    _ record: inout VMRecord, images: ImageStore, loadedImages: inout [String: GuestImage], swapStore: SwapStore,
    builder: VMBuilder, network: EngineNetwork?, logger: Logger
  ) throws(ControlBackendError) -> (built: (entry: EngineEntry, guest: GuestVM), fromSwap: Bool) {
    let cacheKey = "\(record.imageKey)/\(record.memorySize)"
    let image: GuestImage
    if let loaded = loadedImages[cacheKey] {
      image = loaded
    } else {
      let bytes: [UInt8]
      do {
        bytes = try images.load(record.imageKey)
      } catch {
        throw .hostError("its image copy is missing: \(error)")
      }
      do {
        image = try GuestImage(bytes: bytes, memorySize: record.memorySize)
      } catch {
        throw .invalid("its image copy is not a guest image: \(error)")
      }
      loadedImages[cacheKey] = image
    }
    let file = SwapFile(store: swapStore, vmID: record.id, memorySize: record.memorySize)
    var swap: SwapFile?
    if builder.layout.swap.contains(SwapStore.fileName(forVM: record.id)) {
      do {
        try file.recover()
        if file.committed != nil { swap = file }
      } catch {
        logger.warning("vm \(record.id): its swap file is unusable, it restarts from its image: \(error)")
      }
      if swap == nil { builder.layout.swap.remove(SwapStore.fileName(forVM: record.id)) }
    }
    record.startedFrom = swap == nil ? .image : .swap
    let port = record.address.flatMap { restorePort(id: record.id, address: $0, network: network, logger: logger) }
    // A VM restarting from its image gets a fresh disk; one resuming keeps the disk its image goes with.
    do throws(ControlBackendError) {
      let built = try builder.build(
        record, image: image, restoringFrom: swap, requestedAt: nil, freshDisk: swap == nil, port: port)
      return (built, swap != nil)
    } catch {
      if let port { network?.release(port) }
      throw error
    }
  }

  /// VM `id`'s port at its recorded `address`, or nil (logged) when the network cannot give it that address.
  private static func restorePort(id: UInt64, address: IPv4Address, network: EngineNetwork?, logger: Logger)
    -> NetworkPort?
  {
    guard let network else {
      logger.warning(
        "vm \(id) restarts without its NIC: it had address \(address), and this daemon has no network (network); it keeps the address for a restart with one"
      )
      return nil
    }
    do {
      return try network.restore(id: id, address: address)
    } catch {
      logger.warning(
        "vm \(id) restarts without its NIC: its address cannot be given back: \(error) (network \(network.configuration.subnet)); it keeps the address for a later restart"
      )
      return nil
    }
  }

  /// Removes the entries named `vm-<id>...` in `directory` whose id is not in `keeping`.
  private static func removeStrays(in directory: TrustedDirectory, keeping: Set<UInt64>) {
    let prefix = "vm-"
    for name in directory.names() where name.hasPrefix(prefix) {
      let digits = name.dropFirst(prefix.count).prefix { $0.isASCII && $0.isNumber }
      guard let id = UInt64(digits), !keeping.contains(id) else { continue }
      directory.remove(name)
    }
  }
}
