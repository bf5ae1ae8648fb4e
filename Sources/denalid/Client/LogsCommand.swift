// LogsCommand.swift: `denalid logs ID|NAME [--tail N] [--follow]`: a VM's console output.
import ArgumentParser
import ControlAPI
import DenaliCommandLine

/// `denalid logs ID|NAME [--tail N] [--follow]`.
struct LogsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "logs", abstract: "Print a VM's console output (what the daemon kept of it).")

  @Option(help: "The daemon's control socket (default: $DENALID_SOCKET, else /run/denali/denalid.sock).")
  var socket: String = ClientOptions.defaultSocket

  @Argument(help: "A VM id or name.")
  var vm: String

  @Option(help: "Only the last N lines (0: all that was kept).")
  var tail: Int = 0

  @Flag(name: [.short, .long], help: "Keep printing new output until the VM ends.")
  var follow = false

  func validate() throws {
    guard tail >= 0, tail <= 10_000 else { throw ValidationError("--tail must be between 0 and 10000") }
  }

  func run() throws {
    let options = ClientOptions(socket: socket)
    try options.run { () throws(ControlClientError) in
      if follow {
        try options.client.followConsole(vm, tail: tail) { bytes in
          bytes.withUnsafeBytes { StandardStream.write($0, to: 1) }
        }
      } else {
        let bytes = try options.client.consoleTail(vm, lines: tail)
        bytes.withUnsafeBytes { StandardStream.write($0, to: 1) }
      }
    }
  }
}

extension ClientOptions {
  /// Options for `socket` with table output.
  init(socket: String) {
    self.init()
    self.socket = socket
  }
}
