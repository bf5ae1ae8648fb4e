// BenchCommand.swift: `denalid bench`: the benchmark subcommands, each beside a C baseline in the same run.
import ArgumentParser

/// `denalid bench`: benchmarks against a raw-KVM C baseline measured in the same run.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Benchmarks, each beside a minimal C KVM baseline measured in the same run.",
    subcommands: [
      BootBenchmark.self, HypercallBenchmark.self, IdleBenchmark.self, SwitchBenchmark.self, ScaleBenchmark.self,
      SwapBenchmark.self, OvercommitBenchmark.self, NetworkBenchmark.self, SpawnBenchmark.self, TCPBenchmark.self,
      HTTPBenchmark.self,
    ]
  )
}
