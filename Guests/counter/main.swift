// counter [interval-ms=MS] [limit=N] [quiet] [gaps]: counts wake-ups every MS milliseconds (default 100) in the
// global `counter_value` and prints `count N` for each; after N counts (default 0: forever) prints `done N` and
// exits 0. `quiet` prints nothing (but `gaps` lines). `gaps`: the longest time between two counts, measured on
// the guest's own monotonic clock, is kept in the global `counter_max_gap_ns`, and every new longest gap is
// printed as `max-gap-us N`. Unknown or malformed arguments: usage, exits 2. The count lives only in guest
// memory, so a VM swapped out and back in (or restarted from its swap file) continues with no gap and no repeat.
import Ilwaco

/// Counts so far: a little-endian UInt64 at the ELF symbol `counter_value` (a GPA, as guest memory is
/// identity-mapped), so the host can read it from guest memory. It is incremented before `count N` is printed.
@_silgen_name("counter_value")
nonisolated(unsafe) var counterValue: UInt64 = 0

/// The longest time between two counts so far, nanoseconds on the guest's clock (a little-endian UInt64 at the
/// ELF symbol `counter_max_gap_ns`).
@_silgen_name("counter_max_gap_ns")
nonisolated(unsafe) var counterMaxGap: UInt64 = 0

@main
struct Counter: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    var milliseconds: UInt64 = 100
    var limit: UInt64 = 0
    var quiet = false
    var gaps = false
    for argument in arguments {
      if argument == "quiet" {
        quiet = true
      } else if argument == "gaps" {
        gaps = true
      } else if let text = value(of: argument, for: "interval-ms") {
        guard let value = Arguments.parseUnsigned(text), value >= 1, value <= 1_000_000_000 else { return usage() }
        milliseconds = value
      } else if let text = value(of: argument, for: "limit") {
        guard let value = Arguments.parseUnsigned(text) else { return usage() }
        limit = value
      } else {
        return usage()
      }
    }
    // Deadlines follow each other on the guest's monotonic clock (which stands still only while no daemon runs
    // the VM), so counts do not drift; a guest that fell a whole period behind starts again from now, without a burst.
    let period = milliseconds * 1_000_000
    var deadline = Clock.monotonicNanoseconds
    var lastCount = deadline
    while true {
      deadline &+= period
      let woke = sleep(untilMonotonicNanoseconds: deadline)
      if woke - deadline >= period { deadline = woke }
      counterValue &+= 1
      if gaps, woke &- lastCount > counterMaxGap {
        counterMaxGap = woke &- lastCount
        Console.print("max-gap-us ")
        Console.print(counterMaxGap / 1000)
        Console.print("\n")
      }
      lastCount = woke
      if !quiet {
        Console.print("count ")
        Console.print(counterValue)
        Console.print("\n")
      }
      if limit > 0 && counterValue >= limit {
        if !quiet {
          Console.print("done ")
          Console.print(counterValue)
          Console.print("\n")
        }
        return 0
      }
    }
  }

  /// The text after `key=` when `argument` starts with it, else nil.
  static func value(of argument: String, for key: StaticString) -> String? {
    let bytes = argument.utf8
    let keyLength = key.utf8CodeUnitCount
    guard bytes.count > keyLength else { return nil }
    var position = bytes.startIndex
    for offset in 0..<keyLength {
      // SAFETY: offset < utf8CodeUnitCount, the length of the static string's storage.
      guard bytes[position] == key.utf8Start[offset] else { return nil }
      position = bytes.index(after: position)
    }
    guard bytes[position] == 0x3D else { return nil }  // '='
    return String(argument[bytes.index(after: position)...])
  }

  /// Prints the usage and returns exit status 2.
  static func usage() -> Int32 {
    Console.print(
      "usage: counter [interval-ms=MS] [limit=N] [quiet] [gaps] (MS 1-1000000000, default 100; N default 0: forever)\n")
    return 2
  }
}
