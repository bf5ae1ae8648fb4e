// KillCommand.swift: `denalid kill ID|NAME...`: stop VMs.
import ArgumentParser
import ControlAPI

/// `denalid kill ID|NAME...`.
struct KillCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "kill", abstract: "Stop VMs in the running daemon.")

  @OptionGroup var options: ClientOptions

  @Argument(help: "VM ids or names.")
  var vms: [String]

  func run() throws {
    var killed: [VMInfo] = []
    var failures = 0
    for vm in vms {
      do {
        try options.run { () throws(ControlClientError) in killed.append(try options.client.killVM(vm)) }
        if !options.json {
          printOutput(
            "killed vm \(killed[killed.count - 1].id)\(killed[killed.count - 1].name.map { " (\($0))" } ?? "")")
        }
      } catch let exit as ExitCode where exit.rawValue == ClientExit.refused {
        failures += 1
      }
    }
    if options.json { printJSON(VMListResponse(vms: killed)) }
    if failures > 0 { throw ExitCode(ClientExit.refused) }
  }
}
