// SharedOptions.swift: the options `denalid run` and the benchmarks declare alike, each defined once with its help,
// default and bounds: guest memory, the scheduler's threads and quantum, and swapping. Each is a group of its own,
// so a command takes only the options it uses.
import ArgumentParser
import DenaliCore

/// `--memory`: guest memory per VM (default 4 MiB, the guests' usual size).
public struct GuestMemoryOptions: ParsableArguments {
  /// Guest memory per VM.
  @Option(help: "Guest memory per VM, a multiple of 2MiB (e.g. 4MiB, 64MiB).")
  public var memory = ByteSizeArgument(ByteSize(bytes: VMConfiguration.defaultMemorySize))

  /// The defaults (ArgumentParser fills the values in).
  public init() {}

  /// Guest memory per VM in bytes.
  public var bytes: UInt64 { memory.size.bytes }
}

/// `--workers` and `--quantum`: the scheduler's worker threads and the longest slice a VM runs while others wait.
public struct SchedulerOptions: ParsableArguments {
  /// Worker threads running vCPUs.
  @Option(help: "Worker threads running vCPUs (default: one per core).")
  public var workers: Int = Scheduler.Configuration().workers

  /// The scheduling quantum.
  @Option(help: "Scheduling quantum (e.g. 10ms).")
  public var quantum = DurationArgument(.milliseconds(10))

  /// The defaults (ArgumentParser fills the values in).
  public init() {}

  /// Refuses a worker count outside 1-1024 and a quantum under 100 µs.
  public func validate() throws {
    guard workers >= 1, workers <= 1024 else { throw ValidationError("--workers must be between 1 and 1024") }
    guard quantum.duration >= .microseconds(100) else { throw ValidationError("--quantum must be at least 100us") }
  }

  /// A scheduler configuration with these workers and quantum, swapping as given.
  public func configuration(swapping: Scheduler.Swapping? = nil) -> Scheduler.Configuration {
    Scheduler.Configuration(workers: workers, quantum: quantum.duration, swapping: swapping)
  }
}

/// `--state-dir` and `--swap-threads`: where swap files go and the threads that write and read them.
public struct SwapOptions: ParsableArguments {
  /// The directory for swap files (nil: a temporary one).
  @Option(help: "Directory for swap files (default: a temporary directory under /var/tmp, removed at exit).")
  public var stateDir: String?

  /// Threads doing swap I/O.
  @Option(help: "Threads doing swap I/O.")
  public var swapThreads: Int = Self.defaultSwapThreads

  /// The daemon's swap threads unless told otherwise.
  public static let defaultSwapThreads = 4

  /// The defaults (ArgumentParser fills the values in).
  public init() {}

  /// Refuses a swap thread count outside 1-64.
  public func validate() throws {
    guard swapThreads >= 1, swapThreads <= 64 else { throw ValidationError("--swap-threads must be between 1 and 64") }
  }
}
