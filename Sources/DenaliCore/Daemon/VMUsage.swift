// VMUsage.swift: what a VM has used over its whole life (all its runs), as the daemon records it.

/// CPU time, hypercalls and exits a VM used, summed over every run (a restart starts a new run).
public struct VMUsage: Codable, Equatable, Sendable {
  /// CPU time of its slices, nanoseconds.
  public var cpuNanoseconds: UInt64 = 0
  /// Hypercalls.
  public var hypercalls: UInt64 = 0
  /// Exits by kind.
  public var exitsIO: UInt64 = 0, exitsMMIO: UInt64 = 0, exitsInterrupted: UInt64 = 0, exitsOther: UInt64 = 0

  /// Nothing used.
  public init() {}

  /// Exits of every kind.
  public var exits: UInt64 { exitsIO &+ exitsMMIO &+ exitsInterrupted &+ exitsOther }

  /// This usage plus another (two runs, or two VMs).
  public func adding(_ other: VMUsage) -> VMUsage {
    var sum = self
    sum.cpuNanoseconds &+= other.cpuNanoseconds
    sum.hypercalls &+= other.hypercalls
    sum.exitsIO &+= other.exitsIO
    sum.exitsMMIO &+= other.exitsMMIO
    sum.exitsInterrupted &+= other.exitsInterrupted
    sum.exitsOther &+= other.exitsOther
    return sum
  }

  /// This usage plus one run's accounting.
  public func adding(_ accounting: VMAccounting) -> VMUsage {
    var sum = self
    sum.cpuNanoseconds &+= accounting.cpuNanoseconds
    sum.hypercalls &+= accounting.hypercalls
    sum.exitsIO &+= accounting.exits.io
    sum.exitsMMIO &+= accounting.exits.mmio
    sum.exitsInterrupted &+= accounting.exits.interrupted
    sum.exitsOther &+= accounting.exits.other
    return sum
  }
}
