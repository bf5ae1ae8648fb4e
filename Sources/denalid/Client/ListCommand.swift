// ListCommand.swift: `denalid list`: every VM, one line each.
import ArgumentParser
import ControlAPI
import DenaliCommandLine

/// `denalid list`.
struct ListCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "list", abstract: "List the daemon's VMs.")

  @OptionGroup var options: ClientOptions

  func run() throws {
    try options.run { () throws(ControlClientError) in
      let vms = try options.client.listVMs()
      if options.json {
        printJSON(VMListResponse(vms: vms))
        return
      }
      // The ADDRESS column appears once any VM has a NIC; OWNER (a uid) once VMs of several users are listed
      // (which only an administrator sees).
      let addresses = vms.contains { $0.address != nil }
      let owners = Set(vms.map(\.owner)).count > 1
      var table = TextTable(
        header: ["ID", "NAME", "STATE", "MEMORY", "RESIDENT", "CPU", "EXITS"] + (addresses ? ["ADDRESS"] : [])
          + (owners ? ["OWNER"] : []) + ["IMAGE"])
      for vm in vms {
        table.rows.append(
          [
            String(vm.id), vm.name ?? "-", VMDisplay.state(vm.state), ByteCount.human(vm.memoryBytes),
            ByteCount.human(vm.residentBytes), VMDisplay.cpu(vm.cpuTimeNanoseconds),
            String(vm.exits.values.reduce(0, +)),
          ] + (addresses ? [vm.address ?? "-"] : []) + (owners ? [String(vm.owner)] : []) + [
            VMDisplay.fileName(vm.image)
          ])
      }
      StandardStream.write(table.rendered, to: 1)
    }
  }
}

/// How VM fields are shown to people.
enum VMDisplay {
  /// `running`, `exited(3)`, `faulted`.
  static func state(_ state: VMState) -> String {
    switch state {
    case .exited(let status): "exited(\(status))"
    default: state.kind.rawValue
    }
  }

  /// CPU time as `1.234s`.
  static func cpu(_ nanoseconds: UInt64) -> String {
    let milliseconds = nanoseconds / 1_000_000
    let fraction = String(milliseconds % 1000)
    return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)s"
  }

  /// The last component of a path.
  static func fileName(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
  }
}
