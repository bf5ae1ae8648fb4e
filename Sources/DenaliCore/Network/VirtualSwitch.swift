// VirtualSwitch.swift: the daemon's layer-2 switch joining every VM's NIC, and optionally the host via an uplink.
import DequeModule
import Foundation

/// Forwards Ethernet frames between VM ports by MAC address, answers ARP for VM addresses itself (so
/// nothing is ever broadcast to VMs), enforces every sender's source MAC and IPv4 address, and serves
/// the senders in deficit round robin on one switch thread, so a flooding VM gets no more than its share.
///
/// Threads: the send hypercall (a VM's worker) queues frames on its port and tells the switch; the switch
/// thread moves frames from ports' transmit queues (and the uplink's) into receive queues or out the
/// uplink; the receive hypercall takes them. The switch never touches guest memory.
public final class VirtualSwitch: @unchecked Sendable {
  /// How the switch is set up.
  public struct Configuration: Sendable {
    /// The VMs' subnet (for example 10.0.0.0/16); VMs get its host addresses in order.
    public var subnet: IPv4Subnet
    /// The host's address on the uplink, which VMs use as their gateway; never given to a VM.
    public var gateway: IPv4Address?
    /// Per-port queue sizes.
    public var limits: NetworkPort.Limits
    /// Bytes each sender may move per round (at least one largest frame).
    public var quantum: Int
    /// Frames from the host that may wait for the switch thread.
    public var uplinkQueueFrames: Int

    /// A configuration for `subnet`.
    public init(
      subnet: IPv4Subnet, gateway: IPv4Address? = nil, limits: NetworkPort.Limits = .init(),
      quantum: Int = EthernetFrame.maximumLength, uplinkQueueFrames: Int = 256
    ) {
      self.subnet = subnet
      self.gateway = gateway
      self.limits = limits
      self.quantum = max(quantum, EthernetFrame.maximumLength)
      self.uplinkQueueFrames = max(1, uplinkQueueFrames)
    }
  }

  /// Sender key of frames from the uplink in transmit rounds and receive queues.
  static let uplinkSource: UInt64 = .max
  /// Sender key of the switch's own ARP answers in receive queues.
  static let switchSource: UInt64 = .max - 1
  /// Frames the switch thread takes per turn of its lock.
  static let batchSize = 32

  /// The configuration in force.
  public let configuration: Configuration
  private let lock = MonotonicCondition()
  // Guarded by `lock`.
  private var byID: [UInt64: NetworkPort] = [:]
  private var byMAC: [MACAddress: NetworkPort] = [:]
  private var byIP: [IPv4Address: NetworkPort] = [:]
  private var transmitRound: DeficitRoundRobin<UInt64>
  private var uplinkQueue = Deque<[UInt8]>()
  private var uplink: (any NetworkUplink)?
  private var uplinkTotals = NetworkCounters()
  private var answered: UInt64 = 0
  private var forwarded: UInt64 = 0
  private var nextCandidate: UInt32
  private var started = false, stopping = false, threadRunning = false

  /// A switch with no ports; call `start()` to run its thread.
  public init(configuration: Configuration) {
    self.configuration = configuration
    transmitRound = DeficitRoundRobin(quantum: configuration.quantum)
    let subnet = configuration.subnet
    nextCandidate = subnet.prefixLength >= 31 ? subnet.network.value : subnet.network.value &+ 1
  }

  // MARK: Ports

  /// Adds a port for VM `id` with the next free host address of the subnet (in order of creation).
  public func addPort(id: UInt64) throws(NetworkError) -> NetworkPort {
    let result: Result<NetworkPort, NetworkError> = lock.withLock {
      let subnet = configuration.subnet
      let last = subnet.prefixLength >= 31 ? subnet.broadcast.value : subnet.broadcast.value &- 1
      while nextCandidate <= last && nextCandidate >= subnet.network.value {
        let candidate = IPv4Address(value: nextCandidate)
        nextCandidate &+= 1
        if candidate == configuration.gateway || byIP[candidate] != nil { continue }
        return Result { () throws(NetworkError) in try insertPort(id: id, address: candidate) }
      }
      return .failure(.addressesExhausted(subnet))
    }
    return try result.get()
  }

  /// Adds a port for VM `id` with `address`.
  public func addPort(id: UInt64, address: IPv4Address) throws(NetworkError) -> NetworkPort {
    let result: Result<NetworkPort, NetworkError> = lock.withLock {
      Result { () throws(NetworkError) in try insertPort(id: id, address: address) }
    }
    return try result.get()
  }

  private func insertPort(id: UInt64, address: IPv4Address) throws(NetworkError) -> NetworkPort {
    guard configuration.subnet.contains(address) else { throw .addressOutsideSubnet(address, configuration.subnet) }
    guard address != configuration.gateway, byIP[address] == nil else { throw .addressInUse(address) }
    guard byID[id] == nil, id != Self.uplinkSource, id != Self.switchSource else { throw .duplicatePort(id) }
    let port = NetworkPort(
      id: id, mac: MACAddress(forVMAt: address),
      interface: IPv4Subnet(address: address, prefixLength: configuration.subnet.prefixLength),
      gateway: configuration.gateway, limits: configuration.limits, quantum: configuration.quantum, fabric: self)
    byID[id] = port
    byMAC[port.mac] = port
    byIP[address] = port
    return port
  }

  /// Removes `port`: its address is free again and frames for it are no longer delivered.
  public func removePort(_ port: NetworkPort) {
    lock.withLock {
      guard byID[port.id] === port else { return }
      byID[port.id] = nil
      byMAC[port.mac] = nil
      byIP[port.address] = nil
      transmitRound.remove(port.id)
    }
  }

  /// The port with IPv4 `address`, if any.
  public func port(at address: IPv4Address) -> NetworkPort? { lock.withLock { byIP[address] } }

  /// Number of ports.
  public var portCount: Int { lock.withLock { byID.count } }

  // MARK: Statistics

  /// Switch-wide figures: frames forwarded, ARP requests the switch answered itself, and the uplink's
  /// counters ("in" = frames from the host taken in, "out" = frames written to the host, drops of frames
  /// from the host and failed writes).
  public var statistics: (forwarded: UInt64, arpAnswered: UInt64, uplink: NetworkCounters) {
    lock.withLock { (forwarded, answered, uplinkTotals) }
  }

  // MARK: Uplink

  /// Connects `uplink` and starts its reader; frames for no VM go there from now on.
  public func attach(uplink: any NetworkUplink) throws(NetworkError) {
    lock.withLock { self.uplink = uplink }
    try uplink.start { [weak self] frame in self?.receiveFromUplink(frame) }
  }

  /// Queues a frame the host sent (called on the uplink's reader thread).
  func receiveFromUplink(_ frame: [UInt8]) {
    lock.withLock {
      guard uplinkQueue.count < configuration.uplinkQueueFrames else {
        uplinkTotals.drop(.uplinkQueueFull)
        return
      }
      uplinkTotals.packetsIn &+= 1
      uplinkTotals.bytesIn &+= UInt64(frame.count)
      uplinkQueue.append(frame)
      transmitRound.activate(Self.uplinkSource)
      lock.signal()
    }
  }

  // MARK: The switch thread

  /// Called by a port whose transmit queue gained its first frame.
  func transmitReady(_ port: NetworkPort) {
    lock.withLock {
      guard byID[port.id] === port else { return }
      transmitRound.activate(port.id)
      lock.signal()
    }
  }

  /// Starts the switch thread.
  public func start() {
    let first = lock.withLock {
      defer { started = true }
      if !started { threadRunning = true }
      return !started
    }
    guard first else { return }
    let thread = Thread { [self] in run() }
    thread.name = "denali-switch"
    thread.stackSize = 1 << 20
    thread.start()
  }

  /// Stops the switch thread and the uplink; frames still queued stay where they are.
  public func stop() {
    let link = lock.withLock {
      stopping = true
      lock.broadcast()
      while threadRunning { lock.wait(untilMonotonicNanoseconds: nil) }
      return uplink
    }
    link?.stop()
  }

  /// One frame taken from a sender, with what to do with it.
  private struct Work {
    let frame: [UInt8]
    let sender: NetworkPort?
    let decision: ForwardingDecision
  }

  private func run() {
    var batch: [Work] = []
    batch.reserveCapacity(Self.batchSize)
    while true {
      let (proceed, link): (Bool, (any NetworkUplink)?) = lock.withLock {
        while !stopping && transmitRound.isEmpty { lock.wait(untilMonotonicNanoseconds: nil) }
        guard !stopping else { return (false, nil) }
        takeBatch(into: &batch)
        return (true, uplink)
      }
      guard proceed else { break }
      for work in batch { carry(work, uplink: link) }
      batch.removeAll(keepingCapacity: true)
    }
    lock.withLock {
      threadRunning = false
      lock.broadcast()
    }
  }

  /// Takes up to `batchSize` frames in deficit-round-robin order and decides each (lock held).
  private func takeBatch(into batch: inout [Work]) {
    let tables = ForwardingDecision.Tables(byMAC: byMAC, byIP: byIP, hasUplink: uplink != nil)
    while batch.count < Self.batchSize {
      let next = transmitRound.next { key in
        key == Self.uplinkSource ? uplinkQueue.first?.count : byID[key]?.transmitHeadLength()
      }
      guard let key = next else { return }
      let sender = key == Self.uplinkSource ? nil : byID[key]
      guard let frame = sender?.takeTransmitted() ?? (key == Self.uplinkSource ? uplinkQueue.popFirst() : nil) else {
        continue
      }
      transmitRound.charge(key, length: frame.count)
      let decision = ForwardingDecision.decide(EthernetFrame(bytes: frame), from: sender, tables: tables)
      switch decision {
      case .answer: answered &+= 1
      case .deliver, .uplink: forwarded &+= 1
      case .drop(let reason): if sender == nil { uplinkTotals.drop(reason) }
      }
      batch.append(Work(frame: frame, sender: sender, decision: decision))
    }
  }

  /// Carries out one decision (lock not held: delivery takes the destination port's lock and may wake its VM).
  private func carry(_ work: Work, uplink link: (any NetworkUplink)?) {
    let source = work.sender?.id ?? Self.uplinkSource
    switch work.decision {
    case .deliver(let target):
      _ = target.deliver(work.frame, from: source)
    case .uplink:
      send(work.frame, to: link)
    case .answer(let reply):
      if let sender = work.sender {
        _ = sender.deliver(reply.bytes, from: Self.switchSource)
      } else {
        send(reply.bytes, to: link)
      }
    case .drop(let reason):
      work.sender?.countDrop(reason)
    }
  }

  /// Writes a frame to the host, counting it.
  private func send(_ frame: [UInt8], to link: (any NetworkUplink)?) {
    let written = link?.transmit(frame) ?? false
    lock.withLock {
      if written {
        uplinkTotals.packetsOut &+= 1
        uplinkTotals.bytesOut &+= UInt64(frame.count)
      } else {
        uplinkTotals.drop(.uplinkError)
      }
    }
  }
}
