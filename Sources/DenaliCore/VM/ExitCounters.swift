// ExitCounters.swift: a VM's exits from KVM_RUN, counted by kind.
import KVM

/// Exits from KVM_RUN by kind.
public struct ExitCounters: Sendable, Equatable {
  /// Port I/O exits (hypercalls and bad port I/O).
  public var io: UInt64 = 0
  /// MMIO exits.
  public var mmio: UInt64 = 0
  /// Interrupted runs: preemption, timeouts, signals, the run watchdog.
  public var interrupted: UInt64 = 0
  /// Halts, shutdowns, internal errors, failed entries and anything else.
  public var other: UInt64 = 0

  /// All exits.
  public var total: UInt64 { io + mmio + interrupted + other }

  /// Counts one exit.
  mutating func count(_ exit: VMExit) {
    switch exit {
    case .io: io += 1
    case .mmio: mmio += 1
    case .interrupted, .longRun: interrupted += 1
    default: other += 1
    }
  }
}
