// RunSummary.swift: what `denalid run` prints after many VMs: outcomes, CPU time per VM, fairness, lateness.
import DenaliCore

/// The end-of-run report of a multi-VM `denalid run`.
struct RunSummary {
  /// The VMs' reports.
  let reports: [VMReport]
  /// Seconds it took to create and submit every VM.
  let creationSeconds: Double
  /// Seconds from the first submission to the last VM's end.
  let wallSeconds: Double
  /// What the swap threads did.
  var swap = SwapStatistics()

  /// Jain's fairness index of `values`: 1 when all are equal, 1/n when one has everything.
  static func jainIndex(_ values: [Double]) -> Double {
    let sum = values.reduce(0, +)
    let squares = values.reduce(0) { $0 + $1 * $1 }
    return squares == 0 ? 1 : sum * sum / (Double(values.count) * squares)
  }

  /// The summary lines.
  var lines: [String] {
    var outcomes: [String: Int] = [:]
    for report in reports { outcomes[RunCommand.outcomeLabel(report.outcome), default: 0] += 1 }
    let outcomeText = outcomes.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    let cpu = reports.map { Double($0.accounting.cpuNanoseconds) / 1e6 }.sorted()
    let wakeups = reports.reduce(UInt64(0)) { $0 + $1.accounting.timerWakeups }
    let latenessTotal = reports.reduce(UInt64(0)) { $0 + $1.accounting.wakeLatenessTotal }
    let latenessMax = reports.map(\.accounting.wakeLatenessMax).max() ?? 0
    let preemptions = reports.reduce(UInt64(0)) { $0 + $1.accounting.preemptions }
    var lines = [
      "denalid: \(reports.count) VMs: \(outcomeText)",
      "  created in \(format(creationSeconds)) s, ran for \(format(wallSeconds)) s",
    ]
    if let first = cpu.first, let last = cpu.last {
      lines.append(
        "  CPU time per VM: min \(format(first)) ms, median \(format(cpu[cpu.count / 2])) ms, max \(format(last)) ms; "
          + "Jain's fairness index \(String(format4(Self.jainIndex(cpu))))")
    }
    lines.append(
      "  preemptions \(preemptions); timer wake-ups \(wakeups), lateness mean "
        + "\(wakeups == 0 ? "-" : format(Double(latenessTotal / wakeups) / 1000)) µs, max \(format(Double(latenessMax) / 1000)) µs"
    )
    if swap.swapOuts + swap.swapOutFailures + swap.loadFailures > 0 {
      let perOut = swap.swapOuts == 0 ? 0 : Double(swap.swapOutNanoseconds) / Double(swap.swapOuts) / 1000
      let perIn = swap.swapIns == 0 ? 0 : Double(swap.swapInNanoseconds) / Double(swap.swapIns + swap.boots) / 1000
      let written: String = format(Double(swap.bytesWritten) / 1_048_576)
      let counts: String = "\(swap.swapOuts) out, \(swap.swapIns) in, \(swap.boots) first loads"
      let means: String = "mean \(format(perOut)) µs per swap-out, \(format(perIn)) µs per load"
      let failures: String = "failures: \(swap.swapOutFailures) swap-out, \(swap.loadFailures) load"
      lines.append("  swap: \(counts); \(written) MiB written in \(swap.syncs) syncs; \(means); \(failures)")
    }
    return lines
  }

  private func format(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    return "\(hundredths / 100).\(String(hundredths % 100).leftPadded(to: 2))"
  }

  private func format4(_ value: Double) -> String {
    let scaled = Int((value * 10000).rounded())
    return "\(scaled / 10000).\(String(scaled % 10000).leftPadded(to: 4))"
  }
}

extension String {
  /// The string left-padded with zeros to `width`.
  func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
