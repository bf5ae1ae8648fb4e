// SwapOutBatch.swift: swapping out several VMs with one sync: write each image, sync the store once, then
// commit each and release its memory.

/// The result of swapping out one VM of a batch.
public struct SwapOutResult {
  /// The VM.
  public let vm: GuestVM
  /// Bytes written and pages stored, or why the VM stayed resident.
  public let result: Result<(bytes: UInt64, pages: Int), SwapError>
}

extension GuestVM {
  /// Swaps out every VM in `batch` (none may be running) to its file, making all of them durable with one
  /// sync of `store`. A VM whose write, the sync, or its commit fails stays resident; nothing is lost.
  public static func swapOut(_ batch: [(vm: GuestVM, file: SwapFile)], store: SwapStore) -> [SwapOutResult] {
    var results: [SwapOutResult] = []
    var written: [(vm: GuestVM, file: SwapFile, pending: PendingSwapWrite)] = []
    for (vm, file) in batch {
      do throws(SwapError) {
        written.append((vm, file, try vm.writeSwapImage(to: file)))
      } catch {
        results.append(SwapOutResult(vm: vm, result: .failure(error)))
      }
    }
    guard !written.isEmpty else { return results }
    do throws(SwapError) {
      try store.sync()
    } catch {
      for entry in written {
        entry.file.abandon(entry.pending)
        results.append(SwapOutResult(vm: entry.vm, result: .failure(error)))
      }
      return results
    }
    for entry in written {
      do throws(SwapError) {
        try entry.vm.commitSwapOut(entry.pending, to: entry.file)  // on failure it has undone the write
        results.append(
          SwapOutResult(vm: entry.vm, result: .success((entry.pending.bytesWritten, entry.pending.pagesWritten))))
      } catch {
        results.append(SwapOutResult(vm: entry.vm, result: .failure(error)))
      }
    }
    return results
  }
}
