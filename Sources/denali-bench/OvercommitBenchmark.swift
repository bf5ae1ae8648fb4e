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
struct OvercommitBenchmark: ParsableCommand {
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

  @Option(help: "Guest memory size per VM.")
  var memory: ByteSizeArgument = ByteSizeArgument(ByteSize(bytes: 2 << 20))

  @Option(help: "The idlers' wake-up period in milliseconds.")
  var periodMs: Int = 1000

  @Option(help: "Give up after this many seconds.")
  var maxSeconds: Int = 3600

  @Option(help: "Worker threads running vCPUs (default: one per core).")
  var workers: Int = Scheduler.Configuration().workers

  @Option(help: "Threads doing swap I/O.")
  var swapThreads: Int = 2

  @Option(help: "Directory for swap files (default: a temporary directory under /var/tmp, removed at exit).")
  var stateDir: String?

  @Option(help: "The idler guest.")
  var image: String = "Guests/build/idler.elf"

  func validate() throws {
    guard count >= 1, count <= 1_000_000 else { throw ValidationError("--count must be between 1 and 1000000") }
    guard resident >= 1, resident <= count else { throw ValidationError("--resident must be between 1 and --count") }
    guard periodMs >= 1 else { throw ValidationError("--period-ms must be at least 1") }
  }

  func run() throws {
    _ = raiseDescriptorLimit()
    let state = try StateDirectory(path: stateDir)
    defer { state.removeIfTemporary() }
    let store = SwapStore(directory: state.directory)
    let system = try KVMSystem()
    let memorySize = memory.size.bytes
    let guest = try GuestImage(contentsOf: image, memorySize: memorySize)
    let swapping = Scheduler.Swapping(
      memoryBudget: UInt64(resident) * memorySize, store: store, system: system, threads: swapThreads,
      log: { printError("denalid: \($0)") })
    let scheduler = Scheduler(configuration: .init(workers: workers, swapping: swapping))

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
    printError("denali-bench overcommit: \(count) VMs registered, \(String(format: "%.0f", recordBytes)) bytes of heap each")

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

    print("overcommit benchmark: \(count) idler VMs of \(memory.size), budget for \(resident), period \(periodMs) ms, \(workers) workers, \(swapThreads) swap threads")
    print("  progress: \(progressed) of \(count) VMs counted at least one wake-up, \(cycled) of them after being swapped out and back in, in \(decimal(elapsed)) s")
    print("  swaps: \(swap.boots) boots, \(swap.swapOuts) swap-outs, \(swap.swapIns) swap-ins: \(decimal(Double(swap.swapOuts) / elapsed)) out/s, \(decimal(Double(swap.swapIns) / elapsed)) in/s; \(decimal(Double(swap.bytesWritten) / 1_048_576)) MiB written, \(swap.pagesWritten) pages, \(swap.syncs) syncs; failures \(swap.swapOutFailures) out, \(swap.loadFailures) load")
    print("  daemon heap per VM: \(decimal(recordBytes)) bytes registered (before running); \(decimal(Double(heapEnd - heapBefore) / Double(count))) bytes at the end (\(swappedOut) swapped out, \(inMemory) in memory)")
    print("  daemon RSS: \(rssBefore / 1024) MiB before, \(rssEnd / 1024) MiB at the end (\(decimal(Double(rssEnd - rssBefore) * 1024 / Double(count))) bytes per VM, resident guests included)")
    print("  disk: \(decimal(Double(disk) / 1_048_576)) MiB of swap files, \(decimal(Double(disk) / Double(max(1, withFiles)) / 1024)) KiB per VM with a swap file (\(withFiles))")
    print("  outcomes: \(reports.count) ended, \(faulted) faulted")
    guard progressed == count, faulted == 0 else {
      throw ValidationError("\(count - progressed) VMs made no progress, \(faulted) faulted")
    }
  }

  /// Bytes malloc has handed out and not taken back.
  private func heapInUse() -> Int {
    Int(host_heap_in_use())
  }

  /// VmRSS in KiB.
  private func residentKiB() -> Int { Int(ProcFile.residentKiB) }
}
