// InspectCommand.swift: `denalid inspect ID|NAME`: everything the daemon reports about one VM.
import ArgumentParser
import ControlAPI
import DenaliCommandLine
import Foundation

/// `denalid inspect ID|NAME`.
struct InspectCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show one VM in detail.")

  @OptionGroup var options: ClientOptions

  @Argument(help: "A VM id or name.")
  var vm: String

  func run() throws {
    try options.run { () throws(ControlClientError) in
      let info = try options.client.inspectVM(vm)
      if options.json {
        printJSON(info)
        return
      }
      func time(_ date: Date?) -> String { date.map { $0.formatted(.iso8601) } ?? "-" }
      var rows: [[String]] = [
        ["id", String(info.id)],
        ["name", info.name ?? "-"],
        ["state", VMDisplay.state(info.state)],
      ]
      if case .faulted(let description) = info.state { rows.append(["fault", description]) }
      rows += [
        ["image", info.image],
        ["arguments", info.arguments.isEmpty ? "-" : info.arguments.joined(separator: " ")],
        ["memory", ByteCount.human(info.memoryBytes)],
        ["resident", ByteCount.human(info.residentBytes)],
        ["swap", ByteCount.human(info.swapBytes)],
        ["disk", info.diskBytes == 0 ? "-" : ByteCount.human(info.diskBytes)],
        ["cpu time", VMDisplay.cpu(info.cpuTimeNanoseconds)],
        ["hypercalls", String(info.hypercalls)],
        ["exits", info.exits.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")],
        ["created", time(info.createdAt)],
        ["started", time(info.startedAt)],
        ["ended", time(info.endedAt)],
        ["start latency", info.startLatencyNanoseconds.map { String(format: "%.3f ms", Double($0) / 1e6) } ?? "-"],
        ["restored from", info.restoredFrom.rawValue],
        ["restarts", String(info.restarts)],
      ]
      if let address = info.address { rows.append(["address", address]) }
      if let network = info.network {
        let drops = network.drops.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        rows += [
          ["mac", network.mac + (network.attached ? "" : " (not attached)")],
          ["network in", "\(network.packetsIn) packets, \(network.bytesIn) bytes"],
          ["network out", "\(network.packetsOut) packets, \(network.bytesOut) bytes"],
          ["network drops", drops.isEmpty ? "0" : "\(network.totalDrops): " + drops.joined(separator: ", ")],
          ["queued frames", String(network.queuedFrames)],
        ]
        if network.sendsDeferred > 0 { rows.append(["sends deferred", String(network.sendsDeferred)]) }
      }
      var table = TextTable(header: ["FIELD", "VALUE"])
      table.rows = rows
      StandardStream.write(table.rendered.split(separator: "\n", maxSplits: 1).last.map { String($0) } ?? "", to: 1)
    }
  }
}
