// AddressPartition.swift: how one subnet's VM addresses are split between the switches of several VM processes,
// so that each gives out addresses no other can, and any of them (or the daemon's hub) can tell whose an address is.

/// Process `index` of `count` owns the host addresses whose offset from the subnet's first host address is
/// `index` modulo `count`: interleaved, so every process has addresses whatever the subnet's size, and a VM's
/// address (and so its MAC, which is made from it) names the process whose switch holds its port.
public struct AddressPartition: Sendable, Equatable {
  /// The process this switch belongs to (0 ..< count).
  public let index: Int
  /// How many processes share the subnet (at least 1).
  public let count: Int

  /// Process `index`'s part of a subnet shared by `count` processes.
  public init(index: Int, count: Int) {
    precondition(count >= 1 && index >= 0 && index < count, "partition \(index) of \(count)")
    self.index = index
    self.count = count
  }

  /// The process owning host address `value`, whose host addresses start at `firstHost`; nil below it.
  public static func owner(of value: UInt32, firstHost: UInt32, count: Int) -> Int? {
    guard value >= firstHost, count >= 1 else { return nil }
    return Int((value - firstHost) % UInt32(count))
  }

  /// Whether this process owns host address `value` (host addresses from `firstHost`).
  public func owns(_ value: UInt32, firstHost: UInt32) -> Bool {
    Self.owner(of: value, firstHost: firstHost, count: count) == index
  }

  /// How many of the host addresses `range` this process owns.
  public func ownedCount(of range: ClosedRange<UInt32>) -> Int {
    let total = Int(range.upperBound - range.lowerBound) + 1
    return total / count + (index < total % count ? 1 : 0)
  }
}
