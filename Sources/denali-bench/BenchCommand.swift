// BenchCommand.swift: `denali-bench`: the benchmarks, each beside a baseline measured in the same run. A program
// of its own beside `denalid` (which the daemon benchmarks run) and `kvm-baseline`, so that the privileged
// binary systemd runs carries no process-spawning benchmark code.
import ArgumentParser
import DenaliCommandLine
import Glibc

/// `denali-bench`: benchmarks against a baseline (a raw-KVM C program, `dd`, Linux) measured in the same run.
@main
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "denali-bench",
    abstract: "Benchmarks of denalid, each beside a baseline measured in the same run.",
    subcommands: benchmarks
  )

  /// Every benchmark (each a `Benchmark`, so each reports with `--json` too), in the order help lists them.
  static let benchmarks: [any Benchmark.Type] = [
    BootBenchmark.self, HypercallBenchmark.self, IdleBenchmark.self, SwitchBenchmark.self, ScaleBenchmark.self,
    SwapBenchmark.self, OvercommitBenchmark.self, NetworkBenchmark.self, SpawnBenchmark.self, TCPBenchmark.self,
    DaemonNetworkBenchmark.self, HTTPBenchmark.self, WebBenchmark.self, ResidentBenchmark.self,
  ]

  /// Parses and runs; usage errors exit with status 2.
  static func main() {
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      let code = exitCode(for: error)
      if code == .validationFailure {
        StandardStream.write(fullMessage(for: error) + "\n", to: 2)
        Glibc.exit(2)
      }
      exit(withError: error)
    }
  }
}
