// SwapBenchmark.swift: `denali-bench swap`: swap-out and swap-in throughput of whole VMs, beside the disk's
// own sequential write and read bandwidth (dd with direct I/O) measured in the same run.
import ArgumentParser
import DenaliCommandLine
import DenaliCore
import Foundation
import KVM
import Synchronization

/// `denali-bench swap`: fills N memcheck VMs, swaps them all out (batched syncs, as the gatekeeper does)
/// and back in from a cold page cache, and compares with dd on the same directory.
struct SwapBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "swap",
    abstract: "Swap-out and swap-in throughput (MiB/s, VMs/s) beside dd's direct-I/O write and read bandwidth.",
    discussion: """
      Boots --vms memcheck VMs of --memory each; every guest fills --fill-kib of its memory with its pattern
      and idles. All are then swapped out in batches of --batch (each batch made durable by one syncfs, as
      the gatekeeper does), the page cache is dropped (as root; otherwise the read figure is marked warm),
      and all are swapped back in, into the machine shells (KVM VM, vCPU, memory) the swap-outs gave back to the
      pool, as the daemon does. Both run on --swap-threads threads taking the next batch or VM from one queue, as
      the daemon's swap threads do (with the default batch of 32 and 32 VMs the swap-out is one batch on one
      thread, as the daemon's would be). The disk's own bandwidth comes from dd with O_DIRECT in the same
      directory over the same number of bytes (write with conv=fsync, then read). Ratios are ours / dd's.
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

  @Option(help: "Threads doing the swap I/O, as the daemon's --swap-threads (the same default).")
  var swapThreads: Int = SwapOptions.defaultSwapThreads

  // Not the shared --state-dir: this one is the parent of the benchmark's own directory, which holds dd's file too.
  @Option(help: "Directory for the swap files and dd's file (default: a temporary directory under /var/tmp).")
  var stateDir: String?

  @Option(help: "The memcheck guest.")
  var image: String = "Guests/build/memcheck.elf"

  @OptionGroup
  var output: ReportOptions

  /// What `swap` reports: whole VMs swapped out and back in, beside dd's direct-I/O bandwidth in the same directory.
  struct Figures: Encodable {
    /// VMs, guest memory per VM, KiB of data each, swap-outs per sync.
    let vms: Int, memoryBytes: UInt64, fillKib: Int, batch: Int
    /// Threads doing the swap I/O.
    let swapThreads: Int
    /// Swap-out: bytes written, seconds, VMs per second.
    let swapOutBytes: UInt64, swapOutSeconds: Double, swapOutVmsPerSecond: Double
    /// Swap-in: bytes read, seconds, VMs per second, and whether the page cache was dropped first (as root).
    let swapInBytes: UInt64, swapInSeconds: Double, swapInVmsPerSecond: Double, swapInColdCache: Bool
    /// MiB dd wrote and read.
    let ddMib: Int
    /// MiB per second: swap-out beside dd's write, swap-in beside dd's read.
    let swapOutMibPerSecond: Comparison<Double>, swapInMibPerSecond: Comparison<Double>
  }

  func validate() throws {
    guard vms >= 1, vms <= 10_000 else { throw ValidationError("--vms must be between 1 and 10000") }
    guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    guard swapThreads >= 1, swapThreads <= 64 else { throw ValidationError("--swap-threads must be between 1 and 64") }
    guard fillKib >= 4 else { throw ValidationError("--fill-kib must be at least 4") }
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

    // Swap out, in batches with one sync each, and back in, one VM at a time: both on --swap-threads threads, as
    // the daemon's swap threads take eviction batches and loads from one queue.
    let files = guests.map { SwapFile(store: store, vmID: $0.configuration.id, memorySize: memorySize) }
    // SAFETY (threads): onSwapThreads hands each index to one thread once, so every VM and its file are used
    // by one thread at a time, and the arrays are only read while the threads run.
    nonisolated(unsafe) let shared = (guests: guests, files: files)
    let (batch, vms) = (batch, vms)
    let bytesOut = Atomic<UInt64>(0)
    let outStart = ContinuousClock.now
    try onSwapThreads(swapThreads, count: (vms + batch - 1) / batch) { index in
      let range = index * batch..<min((index + 1) * batch, vms)
      for result in GuestVM.swapOut(range.map { (shared.guests[$0], shared.files[$0]) }, store: store) {
        switch result.result {
        case .success(let written): bytesOut.add(written.bytes, ordering: .relaxed)
        case .failure(let error): throw ValidationError("swap-out failed: \(error)")
        }
      }
    }
    let outTime = (ContinuousClock.now - outStart).inSeconds
    let coldCache = dropPageCache()

    let pagesIn = Atomic<Int>(0)
    let inStart = ContinuousClock.now
    try onSwapThreads(swapThreads, count: vms) { index in
      pagesIn.add(try shared.guests[index].swapIn(from: shells), ordering: .relaxed)
    }
    let inTime = (ContinuousClock.now - inStart).inSeconds
    let bytesIn = UInt64(pagesIn.load(ordering: .relaxed)) * 4096
    let bytesWritten = bytesOut.load(ordering: .relaxed)
    guests.removeAll()

    // The disk's own bandwidth over the same number of bytes.
    let megabytes = max(16, Int((bytesWritten + (1 << 20) - 1) >> 20))
    let ddFile = "\(state.path)/dd.bench"
    let ddWrite = try timeCommand(
      "/bin/dd",
      ["if=/dev/zero", "of=\(ddFile)", "bs=1M", "count=\(megabytes)", "oflag=direct", "conv=fsync", "status=none"])
    _ = dropPageCache()
    let ddRead = try timeCommand("/bin/dd", ["if=\(ddFile)", "of=/dev/null", "bs=1M", "iflag=direct", "status=none"])
    unlink(ddFile)

    let figures = Figures(
      vms: vms, memoryBytes: memorySize, fillKib: fillKib, batch: batch, swapThreads: swapThreads,
      swapOutBytes: bytesWritten,
      swapOutSeconds: outTime,
      swapOutVmsPerSecond: Double(vms) / outTime, swapInBytes: bytesIn, swapInSeconds: inTime,
      swapInVmsPerSecond: Double(vms) / inTime, swapInColdCache: coldCache, ddMib: megabytes,
      swapOutMibPerSecond: Comparison(Double(bytesWritten) / 1_048_576 / outTime, Double(megabytes) / ddWrite),
      swapInMibPerSecond: Comparison(Double(bytesIn) / 1_048_576 / inTime, Double(megabytes) / ddRead))
    try report(figures) { printTable(figures) }
  }

  /// The figures for people.
  private func printTable(_ figures: Figures) {
    let (outMiB, ddWriteMiB) = (figures.swapOutMibPerSecond.denalid, figures.swapOutMibPerSecond.baseline)
    let (inMiB, ddReadMiB) = (figures.swapInMibPerSecond.denalid, figures.swapInMibPerSecond.baseline)
    print(
      "swap benchmark: \(vms) VMs of \(memory.memory.size), \(fillKib) KiB of data each, batches of \(batch) per sync, \(swapThreads) swap threads"
    )
    print(
      "  swap-out: \(decimal(Double(figures.swapOutBytes) / 1_048_576)) MiB in \(decimal(figures.swapOutSeconds * 1000)) ms: \(decimal(outMiB)) MiB/s, \(decimal(figures.swapOutVmsPerSecond)) VMs/s"
    )
    print(
      "  swap-in\(figures.swapInColdCache ? "" : " (page cache warm: could not drop it)"): \(decimal(Double(figures.swapInBytes) / 1_048_576)) MiB in \(decimal(figures.swapInSeconds * 1000)) ms: \(decimal(inMiB)) MiB/s, \(decimal(figures.swapInVmsPerSecond)) VMs/s"
    )
    print("  dd (O_DIRECT, \(figures.ddMib) MiB): write \(decimal(ddWriteMiB)) MiB/s, read \(decimal(ddReadMiB)) MiB/s")
    print(
      "  ratio to dd: swap-out \(decimal(outMiB / ddWriteMiB))x of write bandwidth, swap-in \(decimal(inMiB / ddReadMiB))x of read bandwidth"
    )
  }

  /// Asks the kernel to drop clean page-cache pages (root only); true when it did.
  private func dropPageCache() -> Bool {
    sync()
    guard let handle = FileHandle(forWritingAtPath: "/proc/sys/vm/drop_caches") else { return false }
    defer { try? handle.close() }
    return (try? handle.write(contentsOf: Data("3\n".utf8))) != nil
  }

  /// Runs a command and returns its wall time in seconds; throws if it fails.
  private func timeCommand(_ path: String, _ arguments: [String]) throws -> Double {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let start = ContinuousClock.now
    try process.run()
    try waitForExit(process, limit: .seconds(1800), what: "\(path) \(arguments.joined(separator: " "))")
    guard process.terminationStatus == 0 else {
      throw ValidationError(
        "\(path) \(arguments.joined(separator: " ")) failed with status \(process.terminationStatus)")
    }
    return (ContinuousClock.now - start).inSeconds
  }
}
