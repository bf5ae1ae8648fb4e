// VMUsage.swift: what a VM has used over its whole life (all its runs), as the daemon records it.

/// CPU time, hypercalls, exits and network traffic a VM used, summed over every run (a restart starts a new run).
public struct VMUsage: Codable, Equatable, Sendable {
  /// CPU time of its slices, nanoseconds.
  public var cpuNanoseconds: UInt64 = 0
  /// Hypercalls.
  public var hypercalls: UInt64 = 0
  /// Exits by kind.
  public var exitsIO: UInt64 = 0, exitsMMIO: UInt64 = 0, exitsInterrupted: UInt64 = 0, exitsOther: UInt64 = 0
  /// Its NIC's counters (packets, bytes, drops); nil for a VM that never had a NIC.
  public var network: NetworkCounters?

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
    sum.network = Self.sum(network, other.network)
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
    sum.network = Self.sum(network, accounting.network)
    return sum
  }

  /// Two sets of counters added; nil only when both are.
  static func sum(_ a: NetworkCounters?, _ b: NetworkCounters?) -> NetworkCounters? {
    guard var total = a else { return b }
    if let b { total.add(b) }
    return total
  }
}
