// OvercommitBenchmark.swift: `denali-bench overcommit`: far more VMs than memory holds: many idlers under a
// budget for a few, until every one has made progress after being swapped back in; reports what a
// swapped-out VM costs in daemon memory and disk, and the swap rate.
import ArgumentParser
import CHostStats
import DenaliCommandLine
import DenaliCore
import Foundation
import Glibc
import KVM

/// `denali-bench overcommit`: registers --count idler VMs with a memory budget for --resident of them.
struct OvercommitBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "overcommit",
    abstract: "Many more idler VMs than the memory budget holds: progress, memory and disk per swapped VM, swap rate.",
    discussion: """
      Registers --count idler VMs (each wakes every --period-ms and counts the wake-up) with a memory budget of
      --resident VMs. The gatekeeper boots them as room allows and swaps out the ones idle the longest. The
      run ends when every VM has made at least two idle hypercalls (its counter advanced), or after --max-seconds.
      VMs that wake more often than the gatekeeper reaches them stay resident; they are counted apart. Reported: the daemon's heap
      (malloc in use) per registered VM before anything ran and at the end, RSS, disk blocks per swapped-out
      VM, and swap-outs and swap-ins per second.
      """
  )

  @Option(help: "VMs to register.")
  var count: Int = 100_000

  @Option(help: "VMs the memory budget holds.")
  var resident: Int = 1000

  // Not the shared --memory (4 MiB): a hundred thousand VMs take the smallest size, 2 MiB.
  @Option(help: "Guest memory size per VM.")
  var memory: ByteSizeArgument = ByteSizeArgument(ByteSize(bytes: 2 << 20))

  @Option(help: "The idlers' wake-up period in milliseconds.")
  var periodMs: Int = 1000

  @Option(help: "Give up after this many seconds.")
  var maxSeconds: Int = 3600

  @OptionGroup
  var scheduling: SchedulerOptions

  @OptionGroup
  var swapOptions: SwapOptions

  @Option(help: "The idler guest.")
  var image: String = "Guests/build/idler.elf"

  @OptionGroup
  var output: ReportOptions

  /// What `overcommit` reports: progress, swap traffic, and what a swapped-out VM costs in memory and on disk.
  struct Figures: Encodable {
    /// VMs registered, VMs the budget holds, guest memory per VM, the idlers' period, workers, swap threads.
    let count: Int, resident: Int, memoryBytes: UInt64, periodMs: Int, workers: Int, swapThreads: Int
    /// VMs that counted a wake-up, those that did after a swap-in, and the seconds it took.
    let progressed: Int, cycled: Int, seconds: Double
    /// Boots, swap-outs and swap-ins, and their rates.
    let boots: UInt64, swapOuts: UInt64, swapIns: UInt64, swapOutsPerSecond: Double, swapInsPerSecond: Double
    /// Bytes and pages written, syncs, and failures.
    let bytesWritten: UInt64, pagesWritten: UInt64, syncs: UInt64, swapOutFailures: UInt64, loadFailures: UInt64
    /// The daemon's heap per registered VM: before anything ran, and at the end.
    let heapBytesPerVmRegistered: Double, heapBytesPerVmEnd: Double
    /// VMs swapped out and in memory at the end.
    let swappedOut: Int, inMemory: Int
    /// The process's RSS before and at the end, KiB.
    let rssKibBefore: Int, rssKibEnd: Int
    /// Bytes of swap files, and the VMs that have one.
    let swapFileBytes: UInt64, vmsWithSwapFiles: Int
    /// VMs ended after the stop, and how many of them faulted.
    let ended: Int, faulted: Int
  }

  func validate() throws {
    guard count >= 1, count <= 1_000_000 else { throw ValidationError("--count must be between 1 and 1000000") }
    guard resident >= 1, resident <= count else { throw ValidationError("--resident must be between 1 and --count") }
    guard periodMs >= 1 else { throw ValidationError("--period-ms must be at least 1") }
  }

  func run() throws {
    _ = raiseDescriptorLimit()
    let state = try StateDirectory(path: swapOptions.stateDir)
    defer { state.removeIfTemporary() }
    let store = SwapStore(directory: state.directory)
    let system = try KVMSystem()
    let memorySize = memory.size.bytes
    let guest = try GuestImage(contentsOf: image, memorySize: memorySize)
    let swapping = Scheduler.Swapping(
      memoryBudget: UInt64(resident) * memorySize, store: store, system: system, threads: swapOptions.swapThreads,
      log: { printError("denalid: \($0)") })
    let scheduler = Scheduler(configuration: scheduling.configuration(swapping: swapping))

    let heapBefore = heapInUse()
    let rssBefore = residentKiB()
    var guests: [GuestVM] = []
    guests.reserveCapacity(count)
    for index in 0..<count {
      let configuration = VMConfiguration(memorySize: memorySize, arguments: ["\(periodMs)"], id: UInt64(index + 1))
      guests.append(try GuestVM(system: system, image: guest, configuration: configuration, resident: false) { _ in })
    }
    for vm in guests { scheduler.submit(vm, name: "idler") }
    guests.removeAll()  // the scheduler holds every VM now
    let heapRegistered = heapInUse()
    let recordBytes = Double(heapRegistered - heapBefore) / Double(count)
    printError(
      "denali-bench overcommit: \(count) VMs registered, \(String(format: "%.0f", recordBytes)) bytes of heap each")

    let start = ContinuousClock.now
    scheduler.start()
    var progressed = 0
    var cycled = 0
    var statuses: [VMStatus] = []
    while true {
      Thread.sleep(forTimeInterval: 5)
      statuses = scheduler.snapshot()
      progressed = statuses.filter { $0.accounting.idles >= 2 }.count
      cycled = statuses.filter { $0.accounting.swapIns >= 1 && $0.accounting.idles >= 2 }.count
      let swap = scheduler.swapStatistics
      let elapsed = (ContinuousClock.now - start).inSeconds
      printError(
        "denali-bench overcommit: \(Int(elapsed)) s: \(progressed) of \(count) VMs progressed, \(cycled) after a swap-in; "
          + "\(swap.boots) booted, \(swap.swapOuts) swapped out, \(swap.swapIns) swapped in, "
          + "\(scheduler.memoryOccupancy?.inMemory ?? 0) in memory")
      if progressed == count || elapsed > Double(maxSeconds) { break }
    }
    let elapsed = (ContinuousClock.now - start).inSeconds
    let swap = scheduler.swapStatistics
    let swappedOut = statuses.filter { $0.phase == .swappedOut }.count
    let withFiles = statuses.filter { $0.accounting.swapOuts >= 1 }.count
    let inMemory = scheduler.memoryOccupancy?.inMemory ?? 0
    let heapEnd = heapInUse()
    let rssEnd = residentKiB()
    let disk = store.diskUsage()

    for status in statuses { scheduler.expire(id: status.id) }
    let reports = try scheduler.finishAll(within: .seconds(600))
    scheduler.stop()
    let faulted = reports.filter { if case .faulted = $0.outcome { true } else { false } }.count

    let figures = Figures(
      count: count, resident: resident, memoryBytes: memorySize, periodMs: periodMs, workers: scheduling.workers,
      swapThreads: swapOptions.swapThreads, progressed: progressed, cycled: cycled, seconds: elapsed, boots: swap.boots,
      swapOuts: swap.swapOuts, swapIns: swap.swapIns, swapOutsPerSecond: Double(swap.swapOuts) / elapsed,
      swapInsPerSecond: Double(swap.swapIns) / elapsed, bytesWritten: swap.bytesWritten,
      pagesWritten: swap.pagesWritten,
      syncs: swap.syncs, swapOutFailures: swap.swapOutFailures, loadFailures: swap.loadFailures,
      heapBytesPerVmRegistered: recordBytes, heapBytesPerVmEnd: Double(heapEnd - heapBefore) / Double(count),
      swappedOut: swappedOut, inMemory: inMemory, rssKibBefore: rssBefore, rssKibEnd: rssEnd, swapFileBytes: disk,
      vmsWithSwapFiles: withFiles, ended: reports.count, faulted: faulted)
    try report(figures) { printTable(figures) }
    guard progressed == count, faulted == 0 else {
      throw ValidationError("\(count - progressed) VMs made no progress, \(faulted) faulted")
    }
  }

  /// The figures for people.
  private func printTable(_ figures: Figures) {
    let f = figures
    print(
      "overcommit benchmark: \(count) idler VMs of \(memory.size), budget for \(resident), period \(periodMs) ms, \(f.workers) workers, \(f.swapThreads) swap threads"
    )
    print(
      "  progress: \(f.progressed) of \(count) VMs counted at least one wake-up, \(f.cycled) of them after being swapped out and back in, in \(decimal(f.seconds)) s"
    )
    print(
      "  swaps: \(f.boots) boots, \(f.swapOuts) swap-outs, \(f.swapIns) swap-ins: \(decimal(f.swapOutsPerSecond)) out/s, \(decimal(f.swapInsPerSecond)) in/s; \(decimal(Double(f.bytesWritten) / 1_048_576)) MiB written, \(f.pagesWritten) pages, \(f.syncs) syncs; failures \(f.swapOutFailures) out, \(f.loadFailures) load"
    )
    print(
      "  daemon heap per VM: \(decimal(f.heapBytesPerVmRegistered)) bytes registered (before running); \(decimal(f.heapBytesPerVmEnd)) bytes at the end (\(f.swappedOut) swapped out, \(f.inMemory) in memory)"
    )
    print(
      "  daemon RSS: \(f.rssKibBefore / 1024) MiB before, \(f.rssKibEnd / 1024) MiB at the end (\(decimal(Double(f.rssKibEnd - f.rssKibBefore) * 1024 / Double(count))) bytes per VM, resident guests included)"
    )
    print(
      "  disk: \(decimal(Double(f.swapFileBytes) / 1_048_576)) MiB of swap files, \(decimal(Double(f.swapFileBytes) / Double(max(1, f.vmsWithSwapFiles)) / 1024)) KiB per VM with a swap file (\(f.vmsWithSwapFiles))"
    )
    print("  outcomes: \(f.ended) ended, \(f.faulted) faulted")
  }

  /// Bytes malloc has handed out and not taken back.
  private func heapInUse() -> Int {
    Int(host_heap_in_use())
  }

  /// VmRSS in KiB.
  private func residentKiB() -> Int { Int(ProcFile.residentKiB) }
}
