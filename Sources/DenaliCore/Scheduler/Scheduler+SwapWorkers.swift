// Scheduler+SwapWorkers.swift: the swap threads: every boot, swap-in, swap-out and swap-file deletion, so
// that workers never wait on the disk for another VM.
import ThreadConfinement

extension Scheduler {
  /// What a swap thread takes at once.
  private enum SwapBatch {
    case load(ScheduledVM)
    case evictions([ScheduledVM])
    case discard(SwapFile)
  }

  /// A swap thread: takes a batch of evictions (made durable by one sync) or one load or discard at a time.
  func swapLoop() {
    ThreadConfinement.enter(.swap)
    while let batch = nextSwapBatch() {
      switch batch {
      case .load(let vm): load(vm)
      case .evictions(let vms): evict(vms)
      case .discard(let file): file.remove()
      }
    }
    threadExited()
  }

  /// Blocks until there is swap work (nil once the scheduler stops and every queued job is done).
  private func nextSwapBatch() -> SwapBatch? {
    let limit = configuration.swapping?.batchLimit ?? 1
    return withState(waiting: { state in
      if let job = state.swapJobs.popFirst() {
        switch job {
        case .load(let vm): return .done(.load(vm))
        case .discard(let file): return .done(.discard(file))
        case .evict(let first):
          var vms = [first]
          while vms.count < limit, case .evict(let next)? = state.swapJobs.first {
            state.swapJobs.removeFirst()
            vms.append(next)
          }
          return .done(.evictions(vms))
        }
      }
      return state.stopping ? .done(nil) : .wait(.swapWork, until: nil)
    })
  }

  /// Boots or swaps in an admitted VM (lock not held while it reads).
  private func load(_ vm: ScheduledVM) {
    guard let swapping = configuration.swapping, let guest = withState({ _ in vm.guest }) else { return }
    let started = monotonicNanoseconds()
    var failure: String?
    var pagesRead = 0
    let booted = guest.hasBooted
    if booted {
      do throws(SwapError) { pagesRead = try guest.swapIn(from: swapping.shells) } catch { failure = error.description }
    } else {
      do throws(VMSetupError) { try guest.boot(from: swapping.shells) } catch {
        failure = error.description
      }
    }
    let elapsed = monotonicNanoseconds() &- started
    let report: VMReport? = withState { state in
      if let failure {
        swapping.log("vm \(vm.id): \(booted ? "swap-in" : "boot") failed: \(failure)")
        state.swapTotals.loadFailures += 1
        state.gatekeeper?.loadFailed(vm)
        vm.residency = .absent
        state.markFinished(vm)
        state.registry[vm.id] = nil
        vm.guest = nil
        guest.interrupts.setListener(nil)
        state.admitWaitingVMs()
        return VMReport(
          id: vm.id, name: vm.name,
          outcome: .hostFailed(reason: "\(booted ? "swap-in" : "boot") failed: \(failure)"),
          accounting: vm.accounting)
      }
      if booted {
        state.swapTotals.swapIns += 1
        state.swapTotals.pagesRead += UInt64(pagesRead)
        vm.accounting.swapIns += 1
      } else {
        state.swapTotals.boots += 1
      }
      state.swapTotals.swapInNanoseconds &+= elapsed
      vm.residency = .resident
      vm.hasBeenLoaded = true
      vm.slicesSinceAdmission = 0
      if vm.state == .runnable {
        state.queueResident(vm)
      } else if vm.state == .idle {
        state.gatekeeper?.noteIdle(vm)
      }
      return nil
    }
    if let report {
      if let file = guest.swapFile { file.remove() }
      retire(report)
    }
  }

  /// Writes a batch of VMs to their swap files, syncs once, and releases those that committed (lock not held
  /// while it writes). A VM whose swap-out fails stays resident and is retried later.
  private func evict(_ vms: [ScheduledVM]) {
    guard let swapping = configuration.swapping else { return }
    let started = monotonicNanoseconds()
    var batch: [(vm: GuestVM, file: SwapFile)] = []
    var records: [ObjectIdentifier: ScheduledVM] = [:]
    for vm in vms {
      guard let guest = withState({ _ in vm.guest }) else { continue }
      let file = guest.swapFile ?? SwapFile(store: swapping.store, vmID: vm.id, memorySize: vm.memorySize)
      batch.append((guest, file))
      records[ObjectIdentifier(guest)] = vm
    }
    let results = GuestVM.swapOut(batch, store: swapping.store)
    let elapsed = monotonicNanoseconds() &- started
    withState { state in
      if !batch.isEmpty { state.swapTotals.syncs += 1 }
      state.swapTotals.swapOutNanoseconds &+= elapsed
      let now = monotonicNanoseconds()
      for outcome in results {
        guard let vm = records[ObjectIdentifier(outcome.vm)] else { continue }
        switch outcome.result {
        case .success(let written):
          state.swapTotals.swapOuts += 1
          state.swapTotals.pagesWritten += UInt64(written.pages)
          state.swapTotals.bytesWritten += written.bytes
          vm.accounting.swapOuts += 1
          state.gatekeeper?.evicted(vm)
          if vm.state == .runnable { state.gatekeeper?.requestAdmission(vm) }
        case .failure(let error):
          state.evictionFailed(vm, error, now: now, log: swapping.log)
        }
      }
      state.admitWaitingVMs()
      state.broadcast(.stateChanged)
    }
  }
}
