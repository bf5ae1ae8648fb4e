// BenchCommand.swift: `denalid bench BENCHMARK ...`: the benchmarks, run by denali-bench beside this program.
import ArgumentParser
import DenaliCommandLine
import Glibc

/// `denalid bench BENCHMARK [OPTIONS]`: runs `denali-bench BENCHMARK [OPTIONS]` from denalid's folder in place of
/// this process (the same arguments, environment, standard streams and exit status).
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Run a benchmark (web, spawn, scale, swap, boot, ...) with denali-bench.",
    discussion: """
      The same as `denali-bench BENCHMARK [OPTIONS]`, the benchmarks program that `swift build` and `make install` \
      put beside denalid; `denalid bench --help` lists the benchmarks, `denalid bench web --help` one benchmark's \
      options. Docs/BENCHMARKS.md gives each one's figures.
      """)

  /// Everything after `bench`, passed on unchanged.
  @Argument(parsing: .captureForPassthrough, help: "The benchmark and its options.")
  var arguments: [String] = []

  func run() throws {
    let program = siblingProgram("denali-bench")
    guard access(program, X_OK) == 0 else {
      throw ValidationError(
        "denalid bench needs denali-bench beside denalid (\(program)): build it (swift build) or install it (make install)"
      )
    }
    // Everything after `bench` on the real command line, `--` included (ArgumentParser saw only what precedes it).
    let all = Array(CommandLine.arguments.dropFirst())
    let forwarded = all.firstIndex(of: "bench").map { Array(all[($0 + 1)...]) } ?? arguments
    let argv = [program] + forwarded
    // SAFETY: execv reads NUL-terminated copies (strdup) through a nil-terminated array; on success this process
    // image is gone, and on failure the copies live until the process exits just after.
    var pointers: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
    pointers.append(nil)
    execv(program, pointers)
    throw ValidationError("denalid bench: cannot run \(program): \(String(cString: strerror(errno)))")
  }
}
