// ScaleBenchmark.swift: `denali-bench scale`: thousands of idle VMs at once: creation rate, memory, descriptors
// and mappings per VM, and the daemon's CPU use while they all idle.
import ArgumentParser
import DenaliCommandLine
import DenaliCore
import Foundation
import KVM

/// `denali-bench scale`: creates N `idler` VMs (each wakes once a second) through one scheduler and
/// measures what each resident VM costs, then stops them all.
struct ScaleBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "scale",
    abstract: "Many idle VMs: creation rate, memory, descriptors and mappings per VM, CPU use while all idle.",
    discussion: """
      Creates --count idler VMs (each idles 1000 ms per wake-up), submitting each to the scheduler as it is
      created, waits 1 s, and reads the process's RSS, descriptors and mappings and the system's kernel
      memory (Slab + KernelStack + PageTables + SecPageTables in /proc/meminfo: system-wide, so other
      activity on the machine shows up too). Then it measures the process's CPU time over --idle-seconds,
      split by thread. To stop, it calls every VM's control.expire(): each VM ends with the outcome
      `timed out` at its next wake-up (within one period), and every VM must end that way.
      """
  )

  @Option(help: "VMs to create.")
  var count: Int = 10000

  // Not the shared --memory (4 MiB): thousands of VMs at once take the smallest size, 2 MiB.
  @Option(help: "Guest memory size per VM.")
  var memory: ByteSizeArgument = ByteSizeArgument(ByteSize(bytes: 2 << 20))

  @Option(help: "Seconds to measure CPU use while every VM idles.")
  var idleSeconds: Int = 10

  @Option(
    help: """
      Time each KVM_RUN with probability 1/N in thread CPU time (counted N times) to split the guests' CPU from the \
      daemon's; 1 times every run, whose two clock reads then add about 1 µs per wake-up to the daemon's share.
      """)
  var guestCpuSampling: UInt64 = 16

  @OptionGroup
  var scheduling: SchedulerOptions

  @Option(help: "The idler guest.")
  var image: String = "Guests/build/idler.elf"

  @OptionGroup
  var output: ReportOptions

  /// The idler's period in milliseconds, passed as its argument.
  static let periodMilliseconds = 1000
  /// Seconds between the last submission and the resident measurements, so the last VMs have booted and idle.
  static let settleSeconds: Double = 1

  func validate() throws {
    guard count >= 1, count <= 1_000_000 else { throw ValidationError("--count must be between 1 and 1000000") }
    guard idleSeconds >= 1 else { throw ValidationError("--idle-seconds must be at least 1") }
    guard guestCpuSampling >= 1, guestCpuSampling <= 1024 else {
      throw ValidationError("--guest-cpu-sampling must be between 1 and 1024")
    }
  }

  func run() throws {
    let limit = raiseDescriptorLimit() ?? 0
    guard limit >= UInt64(count) + 64 else {
      throw ValidationError("the open-file limit is \(limit): \(count) VMs need at least \(count + 64) (ulimit -Hn)")
    }
    let memorySize = memory.size.bytes
    let guest = try GuestImage(contentsOf: image, memorySize: memorySize)
    let system = try KVMSystem()
    let scheduler = Scheduler(configuration: scheduling.configuration())
    // The scheduler's threads are the tasks that appear across start() (their names do not reach the kernel).
    let tasksBeforeStart = Set(ThreadCPU.taskIDs())
    scheduler.start()
    let schedulerTasks = ThreadCPU.taskIDs().filter { !tasksBeforeStart.contains($0) }
    let before = ResidentFigures.read()

    // Create and submit. The VMs are kept so they can be stopped with control.expire() afterwards.
    var vms: [GuestVM] = []
    vms.reserveCapacity(count)
    var submitted: [ContinuousClock.Instant] = []
    submitted.reserveCapacity(count)
    // Elapsed creation time at every tenth of the VMs, to show how creation slows as VMs accumulate.
    var tenths: [UInt64] = []
    let creationStart = ContinuousClock.now
    for index in 0..<count {
      let configuration = VMConfiguration(
        memorySize: memorySize, arguments: ["\(Self.periodMilliseconds)"], id: UInt64(index + 1))
      let vm: GuestVM
      do {
        vm = try GuestVM(system: system, image: guest, configuration: configuration) { _ in }
      } catch {
        _ = try? Self.stop(vms, scheduler: scheduler)
        throw ValidationError("created \(index) of \(count) VMs, then: \(error)")
      }
      scheduler.submit(vm, name: "idler")
      vms.append(vm)
      submitted.append(.now)
      if count >= 10, (index + 1) % (count / 10) == 0 {
        tenths.append(nanoseconds(ContinuousClock.now - creationStart))
        if !output.json {
          printError("denali-bench scale: \(index + 1) VMs created in \((tenths.last ?? 0) / 1_000_000) ms")
        }
      }
    }
    let creation = nanoseconds(ContinuousClock.now - creationStart)

    Thread.sleep(forTimeInterval: Self.settleSeconds)
    let after = ResidentFigures.read()
    let liveAfterCreation = scheduler.liveCount

    // The idle window: every VM sleeps, waking once a period.
    // KVM_RUN's thread CPU time too, only over the window.
    GuestCPUMeasurement.set(true, sampling: guestCpuSampling)
    let threadsBefore = ThreadCPU.read(schedulerTasks: schedulerTasks)
    let cpuBefore = processCPUNanoseconds()
    let slicesBefore = scheduler.sliceTotals
    let windowStart = ContinuousClock.now
    Thread.sleep(forTimeInterval: Double(idleSeconds))
    let cpuAfter = processCPUNanoseconds()
    let slicesAfter = scheduler.sliceTotals
    GuestCPUMeasurement.set(false)
    let threadsAfter = ThreadCPU.read(schedulerTasks: schedulerTasks)
    let window = nanoseconds(ContinuousClock.now - windowStart)
    let liveAfterWindow = scheduler.liveCount

    // Stop: each VM ends as timed out at its next wake-up.
    let stopStart = ContinuousClock.now
    let reports = try Self.stop(vms, scheduler: scheduler)
    let stopping = nanoseconds(ContinuousClock.now - stopStart)
    let lifetimes = submitted.reduce(UInt64(0)) { $0 + nanoseconds(stopStart - $1) }
    // The VMs' last references: releasing them closes their vCPUs, and KVM tears each VM down.
    let teardownStart = ContinuousClock.now
    vms.removeAll()
    let teardown = nanoseconds(ContinuousClock.now - teardownStart)

    let result = ScaleResult(
      count: count, memorySize: memorySize, workers: scheduling.workers, creation: creation, tenths: tenths,
      before: before,
      after: after,
      liveAfterCreation: liveAfterCreation, liveAfterWindow: liveAfterWindow, window: window,
      processCPU: cpuAfter &- cpuBefore, guestTime: slicesAfter.guest &- slicesBefore.guest,
      guestCPU: slicesAfter.guestCPU &- slicesBefore.guestCPU, guestCPUSampling: guestCpuSampling,
      threadCPU: ThreadCPU.difference(threadsAfter, threadsBefore),
      stopping: stopping, teardown: teardown, lifetimes: lifetimes, reports: reports)
    try report(result.figures) { for line in result.lines { print(line) } }
    guard result.timedOut == count else {
      throw ValidationError("\(count - result.timedOut) of \(count) VMs did not end by the stop request (see above)")
    }
  }

  /// Expires every VM (each ends at its next wake-up), waits for all, stops the scheduler; returns the reports.
  @discardableResult
  static func stop(_ vms: [GuestVM], scheduler: Scheduler) throws -> [VMReport] {
    for vm in vms { vm.control.expire() }
    let reports = try scheduler.finishAll(within: .seconds(600))
    scheduler.stop()
    return reports
  }
}

/// What one run of `bench scale` measured, and how it is printed.
private struct ScaleResult {
  /// VMs created.
  let count: Int
  /// Guest memory per VM in bytes.
  let memorySize: UInt64
  /// Worker threads.
  let workers: Int
  /// Nanoseconds to create and submit every VM.
  let creation: UInt64
  /// Nanoseconds since the first creation when each tenth of the VMs had been created (empty below 10 VMs).
  let tenths: [UInt64]
  /// Process and system figures before the first VM and after the last (plus the settle time).
  let before: ResidentFigures, after: ResidentFigures
  /// VMs still live after creation and after the idle window (all of them, unless one failed).
  let liveAfterCreation: Int, liveAfterWindow: Int
  /// Nanoseconds of the idle window, and the process's CPU time over it.
  let window: UInt64, processCPU: UInt64
  /// Wall time the VMs spent inside KVM_RUN during the window: the guests' own work, their exits included.
  let guestTime: UInt64
  /// Thread CPU time the VMs spent inside KVM_RUN during the window (excludes time the host took the thread away).
  let guestCPU: UInt64
  /// Each KVM_RUN was timed for `guestCPU` with probability one in this many.
  let guestCPUSampling: UInt64
  /// The process's CPU time over the window minus `guestCPU`: the daemon's own work.
  var ownCPU: UInt64 { processCPU > guestCPU ? processCPU - guestCPU : 0 }
  /// CPU time over the window by thread kind.
  let threadCPU: ThreadCPU
  /// Nanoseconds from the stop request to the last VM's end.
  let stopping: UInt64
  /// Nanoseconds to release every VM after they ended (closing their descriptors; KVM destroys the VMs).
  let teardown: UInt64
  /// Sum over the VMs of the time from submission to the stop request, nanoseconds.
  let lifetimes: UInt64
  /// The VMs' final reports.
  let reports: [VMReport]

  /// VMs that ended as timed out (all of them when the stop went as planned).
  var timedOut: Int { reports.filter { $0.outcome == .timedOut }.count }
  /// VMs that faulted.
  var faulted: Int { reports.filter { if case .faulted = $0.outcome { true } else { false } }.count }
  /// VMs that exited on their own.
  var exited: Int { reports.filter { if case .exited = $0.outcome { true } else { false } }.count }

  /// Timer wake-ups over every VM's life, minus the one wake-up per VM that ended it after the stop request.
  var wakeupsBeforeStop: UInt64 {
    let total = reports.reduce(UInt64(0)) { $0 + $1.accounting.timerWakeups }
    return total > UInt64(reports.count) ? total - UInt64(reports.count) : 0
  }
  /// Slice CPU of every VM over its whole life (scheduler accounting), nanoseconds.
  var sliceCPU: UInt64 { reports.reduce(UInt64(0)) { $0 + $1.accounting.cpuNanoseconds } }
  /// Timer wake-ups over every VM's life, including the final ones.
  var wakeups: UInt64 { reports.reduce(UInt64(0)) { $0 + $1.accounting.timerWakeups } }

  /// Mean creation time per VM in each tenth of the creation, nanoseconds.
  var creationByTenth: [UInt64] {
    guard count >= 10 else { return [] }
    return tenths.indices.map { ($0 == 0 ? tenths[0] : tenths[$0] - tenths[$0 - 1]) / UInt64(count / 10) }
  }

  /// Expected timer wake-ups per second with every VM idling.
  var expectedWakeupsPerSecond: Double { Double(count) * 1000 / Double(ScaleBenchmark.periodMilliseconds) }
  /// `cpu` as percent of one core over the window and per expected wake-up.
  func share(_ cpu: UInt64) -> String {
    let expected = expectedWakeupsPerSecond * Double(window) / 1e9
    return "\(f(percent(cpu), 1))% = \(f(expected > 0 ? Double(cpu) / expected / 1000 : 0, 1)) µs/wake-up"
  }

  /// Percent of one core.
  func percent(_ cpu: UInt64) -> Double { window == 0 ? 0 : Double(cpu) * 100 / Double(window) }
  /// `after - before` of a field, per VM.
  func perVM(_ field: KeyPath<ResidentFigures, Int64>) -> Double {
    Double(after[keyPath: field] - before[keyPath: field]) / Double(count)
  }

  /// The human-readable report.
  var lines: [String] {
    let seconds = Double(creation) / 1e9
    let expectedInWindow = expectedWakeupsPerSecond * Double(window) / 1e9
    let latenessTotal = reports.reduce(UInt64(0)) { $0 + $1.accounting.wakeLatenessTotal }
    let latenessMax = reports.map(\.accounting.wakeLatenessMax).max() ?? 0
    let lifeSeconds = Double(lifetimes) / 1e9
    return [
      "denali-bench scale: \(count) idler VMs (\(ByteSize(bytes: memorySize)) each, waking every "
        + "\(ScaleBenchmark.periodMilliseconds) ms), \(workers) workers",
      "creation      \(count) VMs in \(f(seconds, 2)) s: \(f(Double(count) / seconds, 0)) VMs/s, "
        + "\(f(Double(creation) / Double(count) / 1000, 0)) µs per VM (created and submitted)",
      "  by tenth      \(creationByTenth.map { f(Double($0) / 1000, 0) }.joined(separator: ", ")) µs per VM",
      "live          \(liveAfterCreation) after creation + \(f(ScaleBenchmark.settleSeconds, 0)) s, "
        + "\(liveAfterWindow) after the idle window",
      "per VM (difference before the first VM / after the last, divided by \(count)):",
      "  process RSS     \(kib(perVM(\.rssKiB)))   (VmRSS \(mib(before.rssKiB)) -> \(mib(after.rssKiB)); counts a shared page once per mapping)",
      "  process PSS     \(kib(perVM(\.pssKiB)))   (smaps_rollup: anonymous \(kib(perVM(\.pssAnonKiB))) + file "
        + "\(kib(perVM(\.pssFileKiB))) + shared memory \(kib(perVM(\.pssShmemKiB))); \(mib(before.pssKiB)) -> "
        + "\(mib(after.pssKiB)); system Shmem \(mib(before.shmemKiB)) -> \(mib(after.shmemKiB)))",
      "  kernel memory   \(kib(perVM(\.kernelKiB)))   (system-wide: Slab \(kib(perVM(\.slabKiB))) + KernelStack "
        + "\(kib(perVM(\.kernelStackKiB))) + PageTables \(kib(perVM(\.pageTablesKiB))) + SecPageTables "
        + "\(kib(perVM(\.secondaryPageTablesKiB))); \(mib(before.kernelKiB)) -> \(mib(after.kernelKiB)))",
      "  MemAvailable    \(kib(-perVM(\.availableKiB))) less   (system-wide: user and kernel memory together)",
      "  descriptors     \(f(perVM(\.descriptors), 2))   (\(before.descriptors) -> \(after.descriptors) open)",
      "  mappings        \(f(perVM(\.mappings), 2))   (\(before.mappings) -> \(after.mappings) lines of "
        + "/proc/self/maps; adjacent guest memories merge into one line)",
      "  threads         \(f(perVM(\.threads), 2))   (\(before.threads) -> \(after.threads) in /proc/self/task, "
        + "\(after.kvmThreads) of them KVM's kernel threads)",
      "idle window   \(f(Double(window) / 1e9, 2)) s with every VM idling: \(f(expectedWakeupsPerSecond, 0)) timer "
        + "wake-ups/s expected (\(count) VMs / \(ScaleBenchmark.periodMilliseconds) ms)",
      "  process CPU     \(f(percent(processCPU), 1))% of one core (\(f(Double(processCPU) / 1e9, 3)) s, "
        + "getrusage user+sys), \(f(expectedInWindow > 0 ? Double(processCPU) / expectedInWindow / 1000 : 0, 1)) µs "
        + "per expected wake-up",
      "  by thread       workers \(share(threadCPU.workers)) (slices, KVM_RUN included, and picking the next VM); "
        + "timer/preemptor \(share(threadCPU.preemptor)); KVM kernel threads \(share(threadCPU.kvmThreads)); "
        + "other \(share(threadCPU.other))   (/proc/self/task/*/schedstat)",
      "  guests' own     \(f(percent(guestCPU), 1))% of one core: thread CPU inside KVM_RUN (wake-up exits and guest "
        + "instructions; each run timed with probability 1/\(guestCPUSampling); \(f(percent(guestTime), 1))% in wall time, "
        + "which counts time the host took the thread away)",
      "  daemon's own    \(share(ownCPU)): process CPU minus thread CPU inside KVM_RUN (scheduling, timers, exit "
        + "handling, hypercalls, accounting, clock reads)",
      "stop          control.expire() on every VM; all ended \(f(Double(stopping) / 1e6, 0)) ms later: "
        + "\(timedOut) timed out, \(faulted) faulted, \(exited) exited",
      "teardown      released every VM in \(f(Double(teardown) / 1e9, 2)) s: "
        + "\(f(Double(teardown) / Double(count) / 1000, 0)) µs per VM (closing descriptors, KVM destroys each VM)",
      "whole run     timer wake-ups \(wakeups) (\(f(lifeSeconds > 0 ? Double(wakeupsBeforeStop) / lifeSeconds : 0, 3)) "
        + "per VM-second before the stop), lateness mean "
        + "\(microseconds(wakeups == 0 ? 0 : latenessTotal / wakeups)), max \(microseconds(latenessMax))",
      "              slice CPU \(f(Double(sliceCPU) / 1e9, 3)) s in all (scheduler accounting): "
        + "\(microseconds(sliceCPU / UInt64(max(1, reports.count)))) per VM, boot and every wake-up included",
    ]
  }

  /// The figures `--json` prints.
  var figures: ScaleBenchmark.Figures {
    ScaleBenchmark.Figures(
      count: count, memoryBytes: memorySize, workers: workers, creationNs: creation,
      creationNsPerVm: creation / UInt64(count), creationNsPerVmByTenth: creationByTenth, teardownNs: teardown,
      rssKibPerVm: perVM(\.rssKiB), kernelKibPerVmSystemWide: perVM(\.kernelKiB),
      memavailableKibPerVmSystemWide: -perVM(\.availableKiB), pssKibPerVm: perVM(\.pssKiB),
      pssAnonKibPerVm: perVM(\.pssAnonKiB), pssFileKibPerVm: perVM(\.pssFileKiB),
      pssShmemKibPerVm: perVM(\.pssShmemKiB),
      descriptorsPerVm: perVM(\.descriptors), mappingsPerVm: perVM(\.mappings), threadsPerVm: perVM(\.threads),
      idleWindowNs: window,
      processCpuNs: processCPU, guestTimeNs: guestTime, processCpuPercentOfCore: percent(processCPU),
      guestCpuNs: guestCPU, ownCpuNs: ownCPU, ownCpuPercentOfCore: percent(ownCPU),
      workerCpuNs: threadCPU.workers, preemptorCpuNs: threadCPU.preemptor, kvmThreadCpuNs: threadCPU.kvmThreads,
      otherThreadCpuNs: threadCPU.other, expectedWakeupsPerSecond: expectedWakeupsPerSecond, timedOut: timedOut,
      faulted: faulted, exited: exited, timerWakeups: wakeups, sliceCpuNs: sliceCPU)
  }

  /// `value` with `decimals` decimals.
  private func f(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }
  /// `value` KiB with one decimal.
  private func kib(_ value: Double) -> String { "\(f(value, 1)) KiB" }
  /// `kib` KiB as MiB with one decimal.
  private func mib(_ kib: Int64) -> String { "\(f(Double(kib) / 1024, 1)) MiB" }
}

extension ScaleBenchmark {
  /// What `scale` reports with `--json` (per-VM figures are the difference before the first VM and after the
  /// last, divided by the VM count; kernel memory and MemAvailable are system-wide).
  struct Figures: Encodable {
    /// VMs, guest memory per VM, workers.
    let count: Int, memoryBytes: UInt64, workers: Int
    /// Creating and submitting every VM: in all, per VM, and per VM in each tenth of the creation.
    let creationNs: UInt64, creationNsPerVm: UInt64, creationNsPerVmByTenth: [UInt64]
    /// Releasing every VM after they ended.
    let teardownNs: UInt64
    /// Per VM: process RSS, kernel memory, MemAvailable taken (KiB).
    let rssKibPerVm: Double, kernelKibPerVmSystemWide: Double, memavailableKibPerVmSystemWide: Double
    /// Per VM: process PSS, and its anonymous, file and shared-memory (memory templates) parts (KiB).
    let pssKibPerVm: Double, pssAnonKibPerVm: Double, pssFileKibPerVm: Double, pssShmemKibPerVm: Double
    /// Per VM: descriptors, mappings, threads.
    let descriptorsPerVm: Double, mappingsPerVm: Double, threadsPerVm: Double
    /// The idle window, the process's CPU over it, the time inside KVM_RUN, and the CPU as percent of one core.
    let idleWindowNs: UInt64, processCpuNs: UInt64, guestTimeNs: UInt64, processCpuPercentOfCore: Double
    /// Thread CPU inside KVM_RUN over the window; the process's CPU minus it (the daemon's own), also in percent.
    let guestCpuNs: UInt64, ownCpuNs: UInt64, ownCpuPercentOfCore: Double
    /// CPU over the window by thread kind.
    let workerCpuNs: UInt64, preemptorCpuNs: UInt64, kvmThreadCpuNs: UInt64, otherThreadCpuNs: UInt64
    /// Timer wake-ups per second expected with every VM idling.
    let expectedWakeupsPerSecond: Double
    /// How the VMs ended after the stop request (all timed out when it went as planned).
    let timedOut: Int, faulted: Int, exited: Int
    /// Timer wake-ups and slice CPU over every VM's whole life.
    let timerWakeups: UInt64, sliceCpuNs: UInt64
  }
}

/// Memory, descriptor and mapping figures of this process and of the system, read from /proc.
struct ResidentFigures {
  /// VmRSS of this process, KiB.
  var rssKiB: Int64 = 0
  /// Proportional set size of this process (/proc/self/smaps_rollup: each page divided by the processes and
  /// mappings that share it), KiB, and its anonymous, file and shared-memory (memory templates) parts.
  var pssKiB: Int64 = 0, pssAnonKiB: Int64 = 0, pssFileKiB: Int64 = 0, pssShmemKiB: Int64 = 0
  /// Shmem in /proc/meminfo (system-wide), KiB: memory files such as the guests' memory templates.
  var shmemKiB: Int64 = 0
  /// /proc/meminfo fields, KiB (system-wide).
  var slabKiB: Int64 = 0, kernelStackKiB: Int64 = 0, pageTablesKiB: Int64 = 0, secondaryPageTablesKiB: Int64 = 0
  /// MemAvailable, KiB (system-wide).
  var availableKiB: Int64 = 0
  /// Entries in /proc/self/fd.
  var descriptors: Int64 = 0
  /// Lines of /proc/self/maps.
  var mappings: Int64 = 0
  /// Entries in /proc/self/task (threads, including kernel threads KVM attaches to the process).
  var threads: Int64 = 0
  /// Of those, kernel threads KVM attaches to the process (named `kvm-...`).
  var kvmThreads: Int64 = 0

  /// The kernel's own memory: Slab + KernelStack + PageTables + SecPageTables, KiB.
  var kernelKiB: Int64 { slabKiB + kernelStackKiB + pageTablesKiB + secondaryPageTablesKiB }

  /// The figures now (fields that cannot be read stay 0).
  static func read() -> ResidentFigures {
    var figures = ResidentFigures()
    let status = ProcFile.fields(of: "/proc/self/status")
    figures.rssKiB = status["VmRSS"] ?? 0
    let rollup = ProcFile.fields(of: "/proc/self/smaps_rollup")
    figures.pssKiB = rollup["Pss"] ?? 0
    figures.pssAnonKiB = rollup["Pss_Anon"] ?? 0
    figures.pssFileKiB = rollup["Pss_File"] ?? 0
    figures.pssShmemKiB = rollup["Pss_Shmem"] ?? 0
    let meminfo = ProcFile.fields(of: "/proc/meminfo")
    figures.slabKiB = meminfo["Slab"] ?? 0
    figures.kernelStackKiB = meminfo["KernelStack"] ?? 0
    figures.pageTablesKiB = meminfo["PageTables"] ?? 0
    figures.secondaryPageTablesKiB = meminfo["SecPageTables"] ?? 0
    figures.availableKiB = meminfo["MemAvailable"] ?? 0
    figures.shmemKiB = meminfo["Shmem"] ?? 0
    // The listing opens one descriptor of its own, before and after alike.
    figures.descriptors = Int64((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.count ?? 0)
    let tasks = ThreadCPU.taskIDs()
    figures.threads = Int64(tasks.count)
    figures.kvmThreads = Int64(tasks.filter { ThreadCPU.isKVMThread($0) }.count)
    figures.mappings = Int64(
      ProcFile.read("/proc/self/maps")?.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 } ?? 0)
    return figures
  }
}

/// CPU time of this process's threads by kind, from /proc/self/task/*/schedstat (nanoseconds on a CPU).
private struct ThreadCPU {
  /// The scheduler's worker threads.
  var workers: UInt64 = 0
  /// The scheduler's timer and preemption thread.
  var preemptor: UInt64 = 0
  /// Kernel threads KVM attaches to the process (`kvm-nx-lpage-recovery`, one per VM).
  var kvmThreads: UInt64 = 0
  /// Every other thread but the calling one (which only sleeps through the window and reads these figures).
  var other: UInt64 = 0

  /// The thread IDs of this process now.
  static func taskIDs() -> [Int32] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []).compactMap { Int32($0) }
  }

  /// True if thread `task` is a kernel thread KVM attached to the process (its name starts with `kvm-`).
  static func isKVMThread(_ task: Int32) -> Bool {
    ProcFile.read("/proc/self/task/\(task)/comm")?.starts(with: Array("kvm-".utf8)) ?? false
  }

  /// Every live thread's CPU time now. `schedulerTasks` are the scheduler's threads: the workers are created
  /// first and the preemptor last, so the highest ID is the preemptor. Threads that exited are missing (none
  /// of the scheduler's exit while VMs are live).
  static func read(schedulerTasks: [Int32]) -> ThreadCPU {
    var result = ThreadCPU()
    let preemptor = schedulerTasks.max()
    let caller = getpid()  // `bench` runs on the main thread, whose ID is the process's
    for task in taskIDs() where task != caller {
      guard let stat = ProcFile.read("/proc/self/task/\(task)/schedstat"),
        let first = String(decoding: stat, as: UTF8.self).split(separator: " ").first, let cpu = UInt64(first)
      else { continue }
      if task == preemptor {
        result.preemptor += cpu
      } else if schedulerTasks.contains(task) {
        result.workers += cpu
      } else if isKVMThread(task) {
        result.kvmThreads += cpu
      } else {
        result.other += cpu
      }
    }
    return result
  }

  /// `later - earlier`, field by field (0 where threads went away).
  static func difference(_ later: ThreadCPU, _ earlier: ThreadCPU) -> ThreadCPU {
    ThreadCPU(
      workers: later.workers > earlier.workers ? later.workers - earlier.workers : 0,
      preemptor: later.preemptor > earlier.preemptor ? later.preemptor - earlier.preemptor : 0,
      kvmThreads: later.kvmThreads > earlier.kvmThreads ? later.kvmThreads - earlier.kvmThreads : 0,
      other: later.other > earlier.other ? later.other - earlier.other : 0)
  }
}
