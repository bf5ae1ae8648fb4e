// StatsCommand.swift: `denalid stats`: daemon-wide figures.
import ArgumentParser
import ControlAPI
import DenaliCommandLine

/// `denalid stats`.
struct StatsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "stats", abstract: "Show the daemon's statistics.")

  @OptionGroup var options: ClientOptions

  func run() throws {
    try options.run { () throws(ControlClientError) in
      let stats = try options.client.statistics()
      if options.json {
        printJSON(stats)
        return
      }
      var table = TextTable(header: ["FIGURE", "VALUE"])
      table.rows = [
        ["uptime", "\(Int(stats.uptimeSeconds))s"],
        ["vms", String(stats.vmsTotal)],
      ]
      for kind in VMStateKind.allCases where (stats.vmsByState[kind] ?? 0) > 0 {
        table.rows.append(["  \(kind.rawValue)", String(stats.vmsByState[kind] ?? 0)])
      }
      table.rows += [
        ["vms created", String(stats.vmsCreatedTotal)],
        ["memory budget", ByteCount.human(stats.memoryBudgetBytes)],
        ["memory admitted", ByteCount.human(stats.memoryAdmittedBytes)],
        ["memory resident", ByteCount.human(stats.memoryResidentBytes)],
        ["swap", ByteCount.human(stats.swapBytes)],
        ["swap outs / ins", "\(stats.swapOutsTotal) / \(stats.swapInsTotal)"],
        ["cpu time", VMDisplay.cpu(stats.cpuTimeNanosecondsTotal)],
        ["exits", String(stats.exitsTotal)],
        ["hypercalls", String(stats.hypercallsTotal)],
        ["workers", String(stats.workers)],
      ]
      if let network = stats.network {
        let drops = network.uplinkDrops.values.reduce(0, &+)
        table.rows += [
          ["network", "\(network.subnet), uplink \(network.uplink ?? "none"), vm-to-vm \(network.vmToVM)"],
          ["  addresses in use / free", "\(network.addressesInUse) / \(network.addressesFree)"],
          ["  forwarded / ARP answered", "\(network.forwardedTotal) / \(network.arpAnsweredTotal)"],
          ["  uplink in / out", "\(network.uplinkPacketsIn) / \(network.uplinkPacketsOut) packets, \(drops) dropped"],
        ]
      }
      StandardStream.write(table.rendered, to: 1)
    }
  }
}
