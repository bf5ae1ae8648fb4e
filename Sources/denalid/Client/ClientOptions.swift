// ClientOptions.swift: what every client command shares: the socket, JSON output, and error reporting.
import ArgumentParser
import ControlAPI
import DenaliCommandLine
import Foundation

/// `--socket PATH` and `--json`, for every command that talks to `denalid serve`.
struct ClientOptions: ParsableArguments {
  /// The socket when `--socket` is not given: $DENALID_SOCKET, else the daemon's default.
  static var defaultSocket: String {
    ProcessInfo.processInfo.environment["DENALID_SOCKET"] ?? DaemonConfiguration().socketPath
  }

  @Option(help: "The daemon's control socket (default: $DENALID_SOCKET, else /run/denali/denalid.sock).")
  var socket: String = ClientOptions.defaultSocket

  @Flag(help: "Print JSON (the API's own bodies) instead of tables.")
  var json = false

  /// A client of that socket.
  var client: ControlClient { ControlClient(socketPath: socket) }

  /// Runs `body`; a client error is printed as `denalid: ...` and becomes the exit status of `ClientExit`.
  func run(_ body: () throws(ControlClientError) -> Void) throws {
    do {
      try body()
    } catch {
      printError("denalid: \(error)")
      throw ExitCode(ClientExit.status(for: error))
    }
  }
}

/// Exit statuses of the client commands.
enum ClientExit {
  /// The daemon refused the request (its message is printed).
  static let refused: Int32 = 1
  /// The daemon could not be reached, or closed the connection (EX_UNAVAILABLE).
  static let unavailable: Int32 = 69

  /// The status for a client error.
  static func status(for error: ControlClientError) -> Int32 {
    switch error {
    case .refused: refused
    case .cannotConnect, .closedByDaemon, .connection, .malformedResponse: unavailable
    }
  }
}

/// Writes `value` as the API's JSON (sorted keys, one line) to standard output.
func printJSON(_ value: some Encodable) {
  StandardStream.write(String(decoding: ControlJSON.bytes(value), as: UTF8.self), to: 1)
}

/// Writes `text` and a newline to standard output.
func printOutput(_ text: String) {
  StandardStream.write(text.hasSuffix("\n") ? text : text + "\n", to: 1)
}
