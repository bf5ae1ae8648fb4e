// ReceiveMemory.swift: the bytes every VM's receive queue may hold together. Each queue has its own frame limit;
// this bounds their sum, so that frames sent to thousands of VMs that are not running (swapped out, waiting for
// admission) cannot grow the daemon without bound.
import Synchronization

/// A daemon-wide count of the bytes of frames waiting in receive queues, against a limit. Queues take bytes
/// before they keep a frame and give them back when the frame leaves (received, displaced, or its port removed).
public final class ReceiveMemory: Sendable {
  /// Most bytes all receive queues hold together.
  public let limit: Int
  private let used = Atomic<Int>(0)

  /// A budget of `limit` bytes (at least one largest frame).
  public init(limit: Int) { self.limit = max(limit, EthernetFrame.maximumLength) }

  /// Bytes held now.
  public var bytesInUse: Int { used.load(ordering: .relaxed) }

  /// Takes `bytes` if they fit under the limit; false (nothing taken) when they do not.
  func take(_ bytes: Int) -> Bool {
    var current = used.load(ordering: .relaxed)
    while true {
      guard current + bytes <= limit else { return false }
      let (exchanged, original) = used.compareExchange(
        expected: current, desired: current + bytes, ordering: .relaxed)
      if exchanged { return true }
      current = original
    }
  }

  /// Gives back `bytes` taken before.
  func give(_ bytes: Int) {
    guard bytes > 0 else { return }
    used.subtract(bytes, ordering: .relaxed)
  }
}
