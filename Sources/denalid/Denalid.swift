// Denalid.swift: the denalid command line: subcommands, and exit statuses for usage errors.
import ArgumentParser
import DenaliCommandLine
import Glibc

/// The `denalid` command.
@main
struct Denalid: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "denalid",
    abstract: "Denali on KVM: an isolation kernel running small untrusted guests, one KVM VM each.",
    discussion: """
      denalid runs small untrusted guests, freestanding x86-64 ELF images, each in its own KVM virtual machine \
      with one vCPU, all inside one process. `denalid run` runs guests and exits with their status; `denalid \
      serve` is the daemon (the systemd unit denalid.service), driven through an HTTP/JSON control API on a unix \
      socket (/run/denali/denalid.sock; members of the group denali may use it) by the client commands spawn, \
      list, inspect, logs, kill and stats.

      The daemon reads /etc/denali/denalid.conf, keeps its state in /var/lib/denali and takes images from \
      /var/lib/denali/images. Example guests are installed in share/denali/guests under the installation prefix \
      (/usr for the Debian package, /usr/local for make install), the documents in share/doc/denali (API.md: the \
      control API).
      """,
    version: BuildVersion.description,
    subcommands: [
      RunCommand.self, ServeCommand.self, SpawnCommand.self, KillCommand.self, ListCommand.self,
      InspectCommand.self, LogsCommand.self, StatsCommand.self, DiskCommand.self, BenchCommand.self,
    ]
  )

  /// Parses and runs; usage errors exit with status 2, like a bad image.
  static func main() {
    signal(SIGPIPE, SIG_IGN)
    // Idling guests wake on timers: drop the default 50 µs timer slack so they wake on time. Set before any
    // thread exists, so every thread inherits it.
    let slack = open("/proc/self/timerslack_ns", O_WRONLY | O_CLOEXEC)
    if slack >= 0 {
      _ = Glibc.write(slack, "1", 1)
      close(slack)
    }
    do {
      var command = try parseAsRoot(optionArguments)
      try command.run()
    } catch {
      if exitCode(for: error) == .validationFailure {
        printError(fullMessage(for: error))
        Glibc.exit(ExitStatus.usage)
      }
      exit(withError: error)
    }
  }
}

extension Denalid {
  /// The command line before the first `--` (what ArgumentParser sees).
  static var optionArguments: [String] {
    let arguments = CommandLine.arguments.dropFirst()
    return Array(arguments.prefix { $0 != "--" })
  }

  /// The command line after the first `--`: arguments for the guests.
  static var guestArguments: [String] {
    let arguments = CommandLine.arguments.dropFirst()
    guard let terminator = arguments.firstIndex(of: "--") else { return [] }
    return Array(arguments[(terminator + 1)...])
  }
}

/// Exit statuses of `denalid` itself (a guest's own status is passed through as is).
enum ExitStatus {
  /// Invalid usage or an invalid guest image.
  static let usage: Int32 = 2
  /// The guest ran past `--timeout`.
  static let timeout: Int32 = 124
  /// The host failed (for example /dev/kvm missing).
  static let hostError: Int32 = 125
}
