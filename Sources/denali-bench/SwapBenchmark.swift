// SwapBenchmark.swift: `denali-bench swap`: swap-out and swap-in throughput of whole VMs, each beside the disk's
// own sequential write and read bandwidth (dd with direct I/O) measured just before and just after it.
import ArgumentParser
import DenaliCommandLine
import DenaliCore
import Foundation
import KVM
import Synchronization

/// `denali-bench swap`: fills N memcheck VMs, then in each of --rounds rounds swaps them all out (batched syncs,
/// as the gatekeeper does) and back in from a cold page cache, each phase bracketed by dd on the same directory.
struct SwapBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "swap",
    abstract:
      "Swap-out and swap-in throughput (MiB/s) beside dd's direct-I/O write and read bandwidth, bracketing each.",
    discussion: """
      Boots --vms memcheck VMs of --memory each; every guest fills --fill-kib of its memory with its pattern
      and idles. Then, --rounds times: all are swapped out in batches of --batch (each batch made durable by one
      syncfs, as the gatekeeper does; every round writes whole images to new files, as a VM's first swap-out does), the page cache is dropped
      (as root; otherwise the read figure is marked warm), and all are swapped back in (every page checked against
      its checksum), into the machine shells (KVM VM, vCPU, memory) the swap-outs gave back to the pool, as the
      daemon does. Both run on --swap-threads threads taking the next batch or VM from one queue, as the daemon's
      swap threads do (with the default batch of 32 and 32 VMs the swap-out is one batch on one thread, as the
      daemon's would be).
      The baseline is the disk's own bandwidth measured by dd in the same directory over about the same bytes,
      1 MiB requests with O_DIRECT: its write (oflag=direct conv=fsync) just before and just after each swap-out,
      its read (iflag=direct) just before and just after each swap-in, each timed by dd itself. A round's ratio is
      ours over the mean of the two dd figures bracketing it; the summary gives the median over the rounds and
      the lowest and highest round. Every round counts: none is dropped.
      """
  )

  @Option(help: "VMs to swap.")
  var vms: Int = 32

  @OptionGroup
  var memory: GuestMemoryOptions

  @Option(help: "KiB of memory each guest fills with data (the rest stays zero and is not stored).")
  var fillKib: Int = 2048

  @Option(help: "Swap-outs made durable by one sync.")
  var batch: Int = 32

  @Option(help: "Rounds of swap-out and swap-in, each phase bracketed by dd.")
  var rounds: Int = 3

  @Option(help: "Threads doing the swap I/O, as the daemon's --swap-threads (the same default).")
  var swapThreads: Int = SwapOptions.defaultSwapThreads

  // Not the shared --state-dir: this one is the parent of the benchmark's own directory, which holds dd's file too.
  @Option(help: "Directory for the swap files and dd's file (default: a temporary directory under /var/tmp).")
  var stateDir: String?

  @Option(help: "The memcheck guest.")
  var image: String = "Guests/build/memcheck.elf"

  @OptionGroup
  var output: ReportOptions

  /// One round: the swap-out between dd's writes just before and after it, the swap-in between dd's reads.
  struct Round: Encodable {
    /// Swap-out: bytes written, seconds, MiB/s, and the process's CPU seconds meanwhile (every thread).
    let swapOutBytes: UInt64, swapOutSeconds: Double, swapOutMibPerSecond: Double, swapOutCpuSeconds: Double
    /// dd's direct write just before and just after the swap-out (MiB/s).
    let ddWriteBeforeMibPerSecond: Double, ddWriteAfterMibPerSecond: Double
    /// Swap-in: bytes read, seconds, MiB/s, and the process's CPU seconds meanwhile (every thread).
    let swapInBytes: UInt64, swapInSeconds: Double, swapInMibPerSecond: Double, swapInCpuSeconds: Double
    /// dd's direct read just before and just after the swap-in (MiB/s).
    let ddReadBeforeMibPerSecond: Double, ddReadAfterMibPerSecond: Double
    /// Ours over the mean of the two dd figures bracketing it.
    let swapOutRatio: Double, swapInRatio: Double
  }

  /// The median and the extremes of one ratio over the rounds.
  struct Spread: Encodable {
    /// The median (the mean of the middle two for an even count), the lowest and the highest.
    let median: Double, lowest: Double, highest: Double

    init(_ values: [Double]) {
      let sorted = values.sorted()
      let middle = sorted.count / 2
      median = sorted.isEmpty ? 0 : sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
      lowest = sorted.first ?? 0
      highest = sorted.last ?? 0
    }
  }

  /// What `swap` reports: whole VMs swapped out and back in, round by round, beside dd's direct-I/O bandwidth
  /// in the same directory just before and after each phase.
  struct Figures: Encodable {
    /// VMs, guest memory per VM, KiB of data each, swap-outs per sync.
    let vms: Int, memoryBytes: UInt64, fillKib: Int, batch: Int
    /// Threads doing the swap I/O.
    let swapThreads: Int
    /// Whether the page cache was dropped before every swap-in (as root).
    let swapInColdCache: Bool
    /// MiB dd wrote and read in each pass.
    let ddMib: Int
    /// Every round, in order.
    let rounds: [Round]
    /// Swap-out over dd's write, swap-in over dd's read: median and extremes over the rounds.
    let swapOutRatio: Spread, swapInRatio: Spread
  }

  func validate() throws {
    guard vms >= 1, vms <= 10_000 else { throw ValidationError("--vms must be between 1 and 10000") }
    guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    guard swapThreads >= 1, swapThreads <= 64 else { throw ValidationError("--swap-threads must be between 1 and 64") }
    guard fillKib >= 4 else { throw ValidationError("--fill-kib must be at least 4") }
    guard rounds >= 1, rounds <= 100 else { throw ValidationError("--rounds must be between 1 and 100") }
  }

  func run() throws {
    _ = raiseDescriptorLimit()
    let state = try StateDirectory(path: stateDir.map { $0 + "/bench-swap-\(getpid())" })
    if stateDir != nil {
      try FileManager.default.createDirectory(atPath: state.path, withIntermediateDirectories: true)
    }
    defer {
      if stateDir != nil { try? FileManager.default.removeItem(atPath: state.path) } else { state.removeIfTemporary() }
    }
    let store = try SwapStore(directory: state.path)
    let system = try KVMSystem()
    // As the daemon does: machine shells come from a pool and go back to it at swap-out, so the swap-ins reuse
    // them (reset) instead of creating KVM VMs.
    let shells = ShellPool(system: system, capacity: max(Scheduler.Swapping.defaultShellsKept, vms))
    let memorySize = memory.bytes
    let guest = try GuestImage(contentsOf: image, memorySize: memorySize)

    // Boot every VM and run it until it idles with its memory filled.
    printError("denali-bench swap: filling \(vms) VMs with \(fillKib) KiB each")
    var guests: [GuestVM] = []
    for index in 0..<vms {
      let configuration = VMConfiguration(
        memorySize: memorySize, arguments: ["1", "3600000", "\(fillKib)"], id: UInt64(index + 1))
      let vm = try GuestVM(system: system, image: guest, configuration: configuration, resident: false) { _ in }
      try vm.boot(from: shells)
      guests.append(vm)
    }
    for (index, vm) in guests.enumerated() {
      fill: while true {
        switch try vm.runSlice() {
        case .idle: break fill
        case .yielded, .preempted: continue
        case .finished(let outcome): throw ValidationError("vm \(index + 1) ended before idling: \(outcome)")
        }
      }
    }

    // dd's file, over about the bytes a swap-out writes (the data, and per VM its superblocks, segment and the
    // guest's own pages).
    let dd = DirectIOBaseline(
      path: "\(state.path)/dd.bench", megabytes: max(16, (vms * (fillKib + 64) + 1023) / 1024))
    defer { dd.remove() }
    var results: [Round] = []
    var coldCache = true
    for round in 0..<rounds {
      // Every round writes whole images to new files, as the first swap-out of a VM does: the last round's files
      // are deleted first (and the deletion made durable, outside the measure), and new SwapFile records made.
      if round > 0 {
        for vm in guests { unlink(store.path(forVM: vm.configuration.id)) }
        sync()
      }
      let files = guests.map { SwapFile(store: store, vmID: $0.configuration.id, memorySize: memorySize) }
      let writeBefore = try dd.write()
      let outCPU = processCPUNanoseconds()
      let (bytesOut, outTime) = try swapOut(guests, to: files, store: store)
      let outCPUSeconds = Double(processCPUNanoseconds() &- outCPU) / 1e9
      let writeAfter = try dd.write()
      coldCache = dropPageCache() && coldCache
      let readBefore = try dd.read()
      let inCPU = processCPUNanoseconds()
      let (bytesIn, inTime) = try swapIn(guests, from: shells)
      let inCPUSeconds = Double(processCPUNanoseconds() &- inCPU) / 1e9
      let readAfter = try dd.read()
      let outRate = Double(bytesOut) / 1_048_576 / outTime
      let inRate = Double(bytesIn) / 1_048_576 / inTime
      results.append(
        Round(
          swapOutBytes: bytesOut, swapOutSeconds: outTime, swapOutMibPerSecond: outRate,
          swapOutCpuSeconds: outCPUSeconds,
          ddWriteBeforeMibPerSecond: writeBefore, ddWriteAfterMibPerSecond: writeAfter,
          swapInBytes: bytesIn, swapInSeconds: inTime, swapInMibPerSecond: inRate, swapInCpuSeconds: inCPUSeconds,
          ddReadBeforeMibPerSecond: readBefore, ddReadAfterMibPerSecond: readAfter,
          swapOutRatio: outRate / ((writeBefore + writeAfter) / 2), swapInRatio: inRate / ((readBefore + readAfter) / 2)
        ))
      printError("denali-bench swap: round \(round + 1) of \(rounds) done")
    }
    guests.removeAll()

    let figures = Figures(
      vms: vms, memoryBytes: memorySize, fillKib: fillKib, batch: batch, swapThreads: swapThreads,
      swapInColdCache: coldCache, ddMib: dd.megabytes, rounds: results,
      swapOutRatio: Spread(results.map(\.swapOutRatio)), swapInRatio: Spread(results.map(\.swapInRatio)))
    try report(figures) { printTable(figures) }
  }

  /// Swaps every guest out to its file in `files`, in batches with one sync each, on --swap-threads threads (as
  /// the daemon's swap threads take eviction batches from one queue); returns the bytes written and the seconds.
  private func swapOut(_ guests: [GuestVM], to files: [SwapFile], store: SwapStore) throws -> (UInt64, Double) {
    // SAFETY (threads): onSwapThreads hands each batch to one thread once, so every VM and its file are used
    // by one thread at a time, and the arrays are only read while the threads run.
    nonisolated(unsafe) let shared = (guests: guests, files: files)
    let (batch, vms) = (batch, vms)
    let bytes = Atomic<UInt64>(0)
    let start = ContinuousClock.now
    try onSwapThreads(swapThreads, count: (vms + batch - 1) / batch) { index in
      let range = index * batch..<min((index + 1) * batch, vms)
      for result in GuestVM.swapOut(range.map { (shared.guests[$0], shared.files[$0]) }, store: store) {
        switch result.result {
        case .success(let written): bytes.add(written.bytes, ordering: .relaxed)
        case .failure(let error): throw ValidationError("swap-out failed: \(error)")
        }
      }
    }
    return (bytes.load(ordering: .relaxed), (ContinuousClock.now - start).inSeconds)
  }

  /// Swaps every guest back in, one VM at a time per thread on --swap-threads threads (as the daemon's swap threads
  /// take loads), into shells from `shells`; returns the bytes read and the seconds.
  private func swapIn(_ guests: [GuestVM], from shells: ShellPool) throws -> (UInt64, Double) {
    // SAFETY (threads): onSwapThreads hands each index to one thread once; the array is only read.
    nonisolated(unsafe) let shared = guests
    let pages = Atomic<Int>(0)
    let start = ContinuousClock.now
    try onSwapThreads(swapThreads, count: vms) { index in
      pages.add(try shared[index].swapIn(from: shells), ordering: .relaxed)
    }
    return (UInt64(pages.load(ordering: .relaxed)) * 4096, (ContinuousClock.now - start).inSeconds)
  }

  /// The figures for people.
  private func printTable(_ figures: Figures) {
    print(
      "swap benchmark: \(vms) VMs of \(memory.memory.size), \(fillKib) KiB of data each, batches of \(batch) per sync, \(swapThreads) swap threads, \(figures.rounds.count) rounds"
    )
    print(
      "  baseline: dd, 1 MiB O_DIRECT requests over \(figures.ddMib) MiB in the same directory, just before and just after each phase (write: oflag=direct conv=fsync; read: iflag=direct)"
    )
    for (index, round) in figures.rounds.enumerated() {
      print(
        "  round \(index + 1): swap-out \(decimal(Double(round.swapOutBytes) / 1_048_576)) MiB in \(decimal(round.swapOutSeconds * 1000)) ms: \(decimal(round.swapOutMibPerSecond)) MiB/s, CPU \(decimal(round.swapOutCpuSeconds * 1000)) ms (dd write \(decimal(round.ddWriteBeforeMibPerSecond)) before, \(decimal(round.ddWriteAfterMibPerSecond)) after): \(decimal(round.swapOutRatio))x"
      )
      print(
        "           swap-in\(figures.swapInColdCache ? "" : " (page cache warm: could not drop it)") \(decimal(Double(round.swapInBytes) / 1_048_576)) MiB in \(decimal(round.swapInSeconds * 1000)) ms: \(decimal(round.swapInMibPerSecond)) MiB/s, CPU \(decimal(round.swapInCpuSeconds * 1000)) ms (dd read \(decimal(round.ddReadBeforeMibPerSecond)) before, \(decimal(round.ddReadAfterMibPerSecond)) after): \(decimal(round.swapInRatio))x"
      )
    }
    let (out, into) = (figures.swapOutRatio, figures.swapInRatio)
    print(
      "  ratio to dd (median, lowest-highest round): swap-out \(decimal(out.median))x (\(decimal(out.lowest))-\(decimal(out.highest))x) of write bandwidth, swap-in \(decimal(into.median))x (\(decimal(into.lowest))-\(decimal(into.highest))x) of read bandwidth"
    )
  }

  /// Asks the kernel to drop clean page-cache pages (root only); true when it did.
  private func dropPageCache() -> Bool {
    sync()
    guard let handle = FileHandle(forWritingAtPath: "/proc/sys/vm/drop_caches") else { return false }
    defer { try? handle.close() }
    return (try? handle.write(contentsOf: Data("3\n".utf8))) != nil
  }
}
