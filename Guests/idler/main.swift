// idler [MS] [verbose]: idles forever, waking every MS milliseconds (decimal, default 1000) to count the
// wake-up in the global `idler_counter`. Prints nothing, except `idler: N` every 10th wake-up when the
// second argument is `verbose`. Never exits on its own (`denalid run --timeout` stops it: 124).
import Ilwaco

/// Wake-ups so far: a little-endian UInt64 at the ELF symbol `idler_counter` (a GPA, as guest memory is
/// identity-mapped), so the host can read it from guest memory without the guest's help. Stored before
/// every idle (the hypercall's "memory" clobber forces the store).
@_silgen_name("idler_counter")
nonisolated(unsafe) var idlerCounter: UInt64 = 0

@main
struct Idler: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard arguments.count <= 2, let milliseconds = arguments.unsignedInteger(at: 0, default: 1000),
      milliseconds <= 1_000_000_000
    else { return usage() }
    var verbose = false
    if arguments.count == 2 {
      guard arguments[1] == "verbose" else { return usage() }
      verbose = true
    }
    // One request for every idle: the host writes only `ret` and `pending`, so `timeout_ns` stays the
    // period and a quiet wake-up is the OUT, the increment and the verbose test. The guest has no
    // interrupt source but the timer, so each idle lasts the full period (wake-ups drift by the few
    // microseconds each loop takes; the idler does not need a steady rate).
    var request = denali_hc_idle(ret: 0, timeout_ns: milliseconds &* 1_000_000, pending: 0)
    var tens: UInt64 = 10
    while true {
      ilwaco_hypercall(DENALI_HC_IDLE, &request)
      idlerCounter &+= 1
      if verbose {
        tens &-= 1
        if tens == 0 {
          tens = 10
          Console.print("idler: ")
          Console.print(idlerCounter)
          Console.print("\n")
        }
      }
    }
  }

  /// Prints the usage and returns exit status 2.
  static func usage() -> Int32 {
    Console.print("usage: idler [MS] [verbose] (MS decimal 0-1000000000, default 1000)\n")
    return 2
  }
}
