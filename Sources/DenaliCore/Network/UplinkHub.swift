// UplinkHub.swift: the daemon's end of a network whose VMs live in several VM processes: one trunk to each
// process's switch and the TAP uplink, joined by `HubRouting`.
import Glibc
import SystemCalls

/// Carries frames between the VM processes' switches (one `DescriptorUplink` each) and the TAP uplink. Each trunk and
/// the TAP has its own reader thread, which routes and writes each frame itself: nothing is queued here, and a
/// trunk that cannot take a frame now (its socket full) drops it, counted, so no process can stall another.
public final class UplinkHub: Sendable {
  /// The routing rules.
  public let routing: HubRouting
  private let tap: (any NetworkUplink)?
  /// Index k: VM process k's trunk (replaced when the process is started again).
  private let trunks: Locked<[DescriptorUplink]>
  private let counters = Locked(Counters())

  /// The hub's figures.
  public struct Counters: Sendable, Equatable {
    /// The TAP's traffic as the host sees the network ("in": frames from the host), and frames dropped.
    public var tap = NetworkCounters()
    /// Frames carried from one VM process to another.
    public var betweenProcesses: UInt64 = 0
    /// Frames from VM processes that went nowhere (by reason), or that a trunk could not take.
    public var trunkDrops = NetworkCounters()
  }

  /// A hub over `trunks` (index k: VM process k's) and `tap`.
  public init(routing: HubRouting, tap: (any NetworkUplink)?, trunks: [DescriptorUplink]) {
    self.routing = routing
    self.tap = tap
    self.trunks = Locked(trunks)
  }

  /// Starts every reader.
  public func start() throws(NetworkError) {
    for (index, trunk) in trunks.withLock({ $0 }).enumerated() {
      try trunk.start { [weak self] frame in self?.carry(frame, from: index) }
    }
    try tap?.start { [weak self] frame in self?.carry(frame, from: nil) }
  }

  /// Stops every reader and waits for them.
  public func stop() {
    tap?.stop()
    for trunk in trunks.withLock({ $0 }) { trunk.stop() }
  }

  /// Joins VM process `index`'s switch again through `trunk` (the process was started again; its old trunk
  /// ended with it): the new trunk's reader starts, the old one's is stopped.
  public func replaceTrunk(_ index: Int, with trunk: DescriptorUplink) throws(NetworkError) {
    let old: DescriptorUplink? = trunks.withLock { trunks in
      guard trunks.indices.contains(index) else { return nil }
      defer { trunks[index] = trunk }
      return trunks[index]
    }
    guard let old else {
      throw .system(SystemCallError(path: nil, operation: "replacing trunk \(index)", errno: EINVAL))
    }
    old.stop()
    try trunk.start { [weak self] frame in self?.carry(frame, from: index) }
  }

  /// The figures so far.
  public var statistics: Counters { counters.withLock { $0 } }

  /// Routes and writes one frame from VM process `source` (nil: from the host).
  private func carry(_ frame: [UInt8], from source: Int?) {
    let route = routing.route(EthernetFrame(bytes: frame), from: source)
    var written = false
    switch route {
    case .tap: written = tap?.transmit(frame) ?? false
    case .trunk(let index):
      let trunk = trunks.withLock { $0.indices.contains(index) ? $0[index] : nil }
      written = trunk?.transmit(frame) ?? false
    case .drop: break
    }
    counters.withLock { counters in
      if source == nil {
        counters.tap.packetsIn &+= 1
        counters.tap.bytesIn &+= UInt64(frame.count)
      }
      switch (route, written) {
      case (.drop(let reason), _):
        if source == nil { counters.tap.drop(reason) } else { counters.trunkDrops.drop(reason) }
      case (.tap, true):
        counters.tap.packetsOut &+= 1
        counters.tap.bytesOut &+= UInt64(frame.count)
      case (.trunk, true):
        if source != nil { counters.betweenProcesses &+= 1 }
      case (_, false):
        if case .tap = route { counters.tap.drop(.uplinkError) } else { counters.trunkDrops.drop(.uplinkError) }
      }
    }
  }
}
