// SwitchBenchmark.swift: `denali-bench switch`: VM-to-VM switch cost on one worker, beside the C baseline.
import ArgumentParser
import DenaliCore
import Foundation
import KVM

/// `denali-bench switch`: two `yield-loop` VMs share one worker thread; every yield ends a slice and the
/// scheduler hands the worker to the other VM. The baseline runs the same two guests in turns on one thread
/// with raw ioctls (`kvm-baseline switch`).
struct SwitchBenchmark: Benchmark {
  static let configuration = CommandConfiguration(
    commandName: "switch",
    abstract: "VM-to-VM switch cost on one worker thread, beside a C program alternating two VMs on one thread.",
    discussion: """
      Both sides run two yield-loop VMs of N/2 yields each (N switches in all) and time from the first
      VM's first hypercall to the end of the last VM; the figure is that time divided by N. denalid's end
      is the moment Scheduler.waitForAll returns (it includes one condition-variable wake-up of the
      waiting thread: a few microseconds over the whole run).
      """
  )

  @Option(help: "Switches per run (two VMs of N/2 yields each).")
  var switches: Int = 20000

  @Option(help: "Runs of each monitor, alternating.")
  var rounds: Int = 5

  @Option(help: "The yield guest (takes its yield count as its argument).")
  var image: String = "Guests/build/yield-loop.elf"

  @Option(help: "The C baseline program (default: kvm-baseline beside this executable).")
  var baseline: String?

  @OptionGroup
  var output: ReportOptions

  /// What `switch` reports: the median run's time per switch, and denalid's CPU per switch.
  struct Figures: Encodable {
    /// Switches per run, and runs per side.
    let switches: Int, rounds: Int
    /// Wall-clock nanoseconds per switch.
    let nsPerSwitch: Comparison<UInt64>
    /// denalid's CPU per switch: in the two VMs' slices (scheduler accounting), and in the whole process.
    let denalidSliceCpuNsPerSwitch: UInt64, denalidProcessCpuNsPerSwitch: UInt64
  }

  func validate() throws {
    guard switches >= 100, switches % 2 == 0, rounds >= 1 else {
      throw ValidationError("--switches must be an even number, at least 100, and --rounds at least 1")
    }
  }

  func run() throws {
    let guest = try GuestImage(contentsOf: image, memorySize: VMConfiguration.defaultMemorySize)
    let system = try KVMSystem()
    let program = BaselineProgram(path: baseline ?? BaselineProgram.defaultPath)
    let runs = try alternatingRounds(
      rounds, denalid: { _ in try Self.measureDenalid(system: system, image: guest, switches: switches) },
      baseline: { _ in
        try program.time(["switch", image, "\(switches / 2)"], count: switches, of: "switches") / UInt64(switches)
      })
    let n = UInt64(switches)
    let perSwitch = Comparison(percentile: 50, of: runs.denalid.map { $0.elapsed / n }, runs.baseline)
    let figures = Figures(
      switches: switches, rounds: rounds, nsPerSwitch: perSwitch,
      denalidSliceCpuNsPerSwitch: SampleSummary(runs.denalid.map { $0.sliceCPU / n }).median,
      denalidProcessCpuNsPerSwitch: SampleSummary(runs.denalid.map { $0.processCPU / n }).median)
    try report(figures) { printTable(figures) }
  }

  private func printTable(_ figures: Figures) {
    let (oursPerSwitch, theirsPerSwitch) = (figures.nsPerSwitch.denalid, figures.nsPerSwitch.baseline)
    let (slicePerSwitch, processPerSwitch) = (figures.denalidSliceCpuNsPerSwitch, figures.denalidProcessCpuNsPerSwitch)
    print(
      "denali-bench switch: \(switches) switches per run (2 VMs x \(switches / 2) yields, 1 worker), "
        + "\(rounds) alternating runs, median run")
    print("                       denalid        C baseline     ratio")
    print(
      "time per switch        \(pad(microseconds(oursPerSwitch))) \(pad(microseconds(theirsPerSwitch))) "
        + ratio(oursPerSwitch, theirsPerSwitch))
    print("switches per second    \(pad(perSecond(oursPerSwitch))) \(pad(perSecond(theirsPerSwitch)))")
    print(
      "denalid CPU per switch: \(microseconds(slicePerSwitch)) in the two VMs' slices (scheduler accounting), "
        + "\(microseconds(processPerSwitch)) for the whole process (every thread)")
  }

  /// One denalid run: wall time, the VMs' slice CPU and the process's CPU, all in nanoseconds.
  struct SwitchRun {
    /// From the first VM's first hypercall to `waitForAll` returning.
    let elapsed: UInt64
    /// The sum of both VMs' `cpuNanoseconds`.
    let sliceCPU: UInt64
    /// The process's user and system time from `start()` to `waitForAll` returning.
    let processCPU: UInt64
  }

  /// Runs two yield-loop VMs of `switches / 2` yields on a one-worker scheduler.
  static func measureDenalid(system: KVMSystem, image: GuestImage, switches: Int) throws -> SwitchRun {
    let configuration = VMConfiguration(arguments: ["\(switches / 2)"])
    let first = try GuestVM(system: system, image: image, configuration: configuration) { _ in }
    var second = configuration
    second.id = 2
    let other = try GuestVM(system: system, image: image, configuration: second) { _ in }
    let scheduler = Scheduler(configuration: .init(workers: 1))
    // Both are queued before the worker exists, so the first yield already finds the other VM waiting.
    scheduler.submit(first, name: "A")
    scheduler.submit(other, name: "B")
    let cpuBefore = processCPUNanoseconds()
    scheduler.start()
    let reports = try scheduler.finishAll(within: .seconds(600))
    let end = ContinuousClock.now
    let cpuAfter = processCPUNanoseconds()
    scheduler.stop()
    // The worker wrote `statistics`; waitForAll returned after it finished both VMs under the scheduler's lock.
    let starts = [first.statistics.firstHypercall, other.statistics.firstHypercall].compactMap { $0 }
    let expectedHypercalls = UInt64(switches / 2) + 1
    guard reports.count == 2, reports.allSatisfy({ $0.outcome == .exited(status: 0) }),
      reports.allSatisfy({ $0.accounting.hypercalls == expectedHypercalls }), let start = starts.min()
    else {
      throw ValidationError(
        "the yield guests did not make \(switches / 2) yields each and exit 0: "
          + reports.map { "\($0.name): \($0.outcome), \($0.accounting.hypercalls) hypercalls" }.joined(separator: "; "))
    }
    return SwitchRun(
      elapsed: nanoseconds(end - start), sliceCPU: reports.reduce(0) { $0 + $1.accounting.cpuNanoseconds },
      processCPU: cpuAfter &- cpuBefore)
  }

  /// Events per second at `nanoseconds` each.
  private func perSecond(_ nanoseconds: UInt64) -> String { nanoseconds > 0 ? "\(1_000_000_000 / nanoseconds)" : "-" }

  /// `text` padded to a table column.
  private func pad(_ text: String) -> String { text.padding(toLength: 14, withPad: " ", startingAt: 0) }
}

/// User plus system CPU time of the whole process (every thread), nanoseconds.
func processCPUNanoseconds() -> UInt64 {
  var usage = rusage()
  guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
  let micros =
    (Int64(usage.ru_utime.tv_sec) + Int64(usage.ru_stime.tv_sec)) * 1_000_000
    + Int64(usage.ru_utime.tv_usec) + Int64(usage.ru_stime.tv_usec)
  return UInt64(max(0, micros)) * 1000
}
