// VirtualSwitch.swift: the daemon's layer-2 switch joining every VM's NIC, and optionally the host via an uplink.
import DequeModule
import Foundation
import ThreadConfinement

/// Forwards Ethernet frames between VM ports by MAC address, answers ARP for VM addresses itself (so
/// nothing is ever broadcast to VMs), enforces every sender's source MAC and IPv4 address, and serves
/// the senders in deficit round robin on one switch thread, so a flooding VM gets no more than its share.
///
/// Threads: the send hypercall (a VM's worker) queues frames on its port and tells the switch; the switch
/// thread moves frames from ports' transmit queues (and the uplink's) into receive queues or out the
/// uplink; the receive hypercall takes them. The switch never touches guest memory.
public final class VirtualSwitch: Sendable {
  /// How the switch is set up.
  public struct Configuration: Sendable {
    /// The VMs' subnet (for example 10.0.0.0/16); VMs get its host addresses in order.
    public var subnet: IPv4Subnet
    /// The host's address on the uplink, which VMs use as their gateway; never given to a VM.
    public var gateway: IPv4Address?
    /// Per-port queue sizes.
    public var limits: NetworkPort.Limits
    /// Bytes of frames all ports' receive queues may hold together (the daemon's `receive-memory`).
    public var receiveMemoryBytes: Int
    /// Bytes each sender may move per round (at least one largest frame).
    public var quantum: Int
    /// Frames from the host that may wait for the switch thread.
    public var uplinkQueueFrames: Int
    /// Keep VMs apart: a VM reaches only the uplink (and itself), never another VM; frames and ARP requests
    /// from one VM to another are dropped and counted (`vmToVMDenied`). The daemon's `vm-to-vm = deny`.
    public var isolatesVMs: Bool
    /// The part of the subnet this switch gives addresses from and holds ports at, when several VM processes
    /// share the subnet (nil: all of it).
    public var partition: AddressPartition?

    /// A configuration for `subnet`.
    public init(
      subnet: IPv4Subnet, gateway: IPv4Address? = nil, limits: NetworkPort.Limits = .init(),
      quantum: Int = EthernetFrame.maximumLength, uplinkQueueFrames: Int = 256, isolatesVMs: Bool = false,
      receiveMemoryBytes: Int = Self.defaultReceiveMemoryBytes, partition: AddressPartition? = nil
    ) {
      self.subnet = subnet
      self.partition = partition
      self.receiveMemoryBytes = receiveMemoryBytes
      self.gateway = gateway
      self.limits = limits
      self.quantum = max(quantum, EthernetFrame.maximumLength)
      self.uplinkQueueFrames = max(1, uplinkQueueFrames)
      self.isolatesVMs = isolatesVMs
    }

    /// Bytes all receive queues may hold together unless configured otherwise: 256 MiB.
    public static let defaultReceiveMemoryBytes = 256 << 20

    /// The first and last address VMs may have: the subnet's host addresses (every address of a /31 or /32).
    public var hostRange: ClosedRange<UInt32> {
      prefixLengthIsPointToPoint
        ? subnet.network.value...subnet.broadcast.value : (subnet.network.value &+ 1)...(subnet.broadcast.value &- 1)
    }

    /// How many addresses VMs may have here: the host addresses (of this switch's partition) less the gateway's.
    public var assignableAddressCount: Int {
      let range = hostRange
      let hosts = partition?.ownedCount(of: range) ?? (Int(range.upperBound - range.lowerBound) + 1)
      return hosts - (gateway.map { range.contains($0.value) && owns($0) } == true ? 1 : 0)
    }

    /// Whether `address` is in this switch's part of the subnet (always, without a partition).
    public func owns(_ address: IPv4Address) -> Bool {
      partition?.owns(address.value, firstHost: hostRange.lowerBound) ?? true
    }

    /// A /31 or /32, which has no network or broadcast address.
    private var prefixLengthIsPointToPoint: Bool { subnet.prefixLength >= 31 }
  }

  /// Sender key of frames from the uplink in transmit rounds and receive queues.
  static let uplinkSource: UInt64 = .max
  /// Sender key of the switch's own ARP answers in receive queues.
  static let switchSource: UInt64 = .max - 1
  /// Frames the switch thread takes per turn of its lock.
  static let batchSize = 32

  /// The configuration in force.
  public let configuration: Configuration

  /// The bytes every port's receive queue holds together, against `configuration.receiveMemoryBytes`.
  public let receiveMemory: ReceiveMemory

  /// The one condition the switch waits on: work for its thread, or its thread's end.
  enum Condition: Int, CaseIterable {
    /// A transmit round gained a sender, the switch is stopping, or its thread exited.
    case changed
  }

  /// Everything the switch's lock guards.
  private struct State {
    var byID: [UInt64: NetworkPort] = [:]
    var byMAC: [MACAddress: NetworkPort] = [:]
    var byIP: [IPv4Address: NetworkPort] = [:]
    var transmitRound: DeficitRoundRobin<UInt64>
    var uplinkQueue = Deque<[UInt8]>()
    var uplink: (any NetworkUplink)?
    var uplinkTotals = NetworkCounters()
    var answered: UInt64 = 0
    var forwarded: UInt64 = 0
    var nextCandidate: UInt32
    var started = false, stopping = false, threadRunning = false
    /// The switch thread holds a batch it took and has not finished carrying.
    var carrying = false
  }

  private let state: Monitor<State, Condition>

  /// A switch with no ports; call `start()` to run its thread.
  public init(configuration: Configuration) {
    self.configuration = configuration
    receiveMemory = ReceiveMemory(limit: configuration.receiveMemoryBytes)
    let subnet = configuration.subnet
    state = Monitor(
      State(
        transmitRound: DeficitRoundRobin(quantum: configuration.quantum),
        nextCandidate: subnet.prefixLength >= 31 ? subnet.network.value : subnet.network.value &+ 1))
  }

  // MARK: Ports

  /// Adds a port for VM `id` with the next free host address of the subnet after the last one given out
  /// (in order of creation; after the subnet's last address it starts again at its first, so an address freed
  /// by a removed port is given out again as late as possible).
  public func addPort(id: UInt64) throws(NetworkError) -> NetworkPort {
    try state.withLock { (state) throws(NetworkError) -> NetworkPort in
      // Checked first, so the search below always finds a free address within (ports + 2) steps.
      guard state.byIP.count < configuration.assignableAddressCount else {
        throw .addressesExhausted(configuration.subnet)
      }
      let range = configuration.hostRange
      // With a partition, candidates step through this switch's own addresses only.
      let (first, step) =
        configuration.partition.map {
          (UInt64(range.lowerBound) + UInt64($0.index), UInt64($0.count))
        } ?? (UInt64(range.lowerBound), 1)
      while true {
        var next = UInt64(state.nextCandidate)
        if next < first || next > UInt64(range.upperBound) {
          next = first
        } else {
          next += (step - (next - first) % step) % step
          if next > UInt64(range.upperBound) { next = first }
        }
        let candidate = IPv4Address(value: UInt32(next))
        let after = next + step
        state.nextCandidate = after > UInt64(range.upperBound) ? UInt32(first) : UInt32(after)
        if candidate == configuration.gateway || state.byIP[candidate] != nil { continue }
        return try insertPort(id: id, address: candidate, into: &state)
      }
    }
  }

  /// Adds a port for VM `id` with `address`.
  public func addPort(id: UInt64, address: IPv4Address) throws(NetworkError) -> NetworkPort {
    try state.withLock { (state) throws(NetworkError) -> NetworkPort in
      try insertPort(id: id, address: address, into: &state)
    }
  }

  private func insertPort(id: UInt64, address: IPv4Address, into state: inout State) throws(NetworkError) -> NetworkPort
  {
    guard configuration.subnet.contains(address) else { throw .addressOutsideSubnet(address, configuration.subnet) }
    guard configuration.hostRange.contains(address.value) else { throw .addressNotHost(address, configuration.subnet) }
    guard address != configuration.gateway else { throw .addressIsGateway(address) }
    guard configuration.owns(address) else { throw .addressInAnotherProcess(address) }
    if let holder = state.byIP[address] { throw .addressInUse(address, byPort: holder.id) }
    guard state.byID[id] == nil, id != Self.uplinkSource, id != Self.switchSource else { throw .duplicatePort(id) }
    let port = NetworkPort(
      id: id, mac: MACAddress(forVMAt: address),
      interface: IPv4Subnet(address: address, prefixLength: configuration.subnet.prefixLength),
      gateway: configuration.gateway, limits: configuration.limits, quantum: configuration.quantum, fabric: self,
      memory: receiveMemory)
    state.byID[id] = port
    state.byMAC[port.mac] = port
    state.byIP[address] = port
    return port
  }

  /// Removes `port`: its address is free again and frames for it are no longer delivered.
  public func removePort(_ port: NetworkPort) {
    let removed = state.withLock { state in
      guard state.byID[port.id] === port else { return false }
      state.byID[port.id] = nil
      state.byMAC[port.mac] = nil
      state.byIP[port.address] = nil
      state.transmitRound.remove(port.id)
      return true
    }
    // Its queued frames go, and their bytes return to the daemon-wide limit.
    if removed { port.close() }
  }

  /// The port with IPv4 `address`, if any.
  public func port(at address: IPv4Address) -> NetworkPort? { state.withLock { $0.byIP[address] } }

  /// Number of ports.
  public var portCount: Int { state.withLock { $0.byID.count } }

  // MARK: Statistics

  /// Switch-wide figures: frames forwarded, ARP requests the switch answered itself, and the uplink's
  /// counters ("in" = frames from the host taken in, "out" = frames written to the host, drops of frames
  /// from the host and failed writes).
  public var statistics: (forwarded: UInt64, arpAnswered: UInt64, uplink: NetworkCounters) {
    state.withLock { ($0.forwarded, $0.answered, $0.uplinkTotals) }
  }

  // MARK: Uplink

  /// Connects `uplink` and starts its reader; frames for no VM go there from now on.
  public func attach(uplink: any NetworkUplink) throws(NetworkError) {
    state.withLock { $0.uplink = uplink }
    try uplink.start { [weak self] frame in self?.receiveFromUplink(frame) }
  }

  /// Queues a frame the host sent (called on the uplink's reader thread).
  func receiveFromUplink(_ frame: [UInt8]) {
    let queued = state.withLock { state in
      guard state.uplinkQueue.count < configuration.uplinkQueueFrames else {
        state.uplinkTotals.drop(.uplinkQueueFull)
        return false
      }
      state.uplinkTotals.packetsIn &+= 1
      state.uplinkTotals.bytesIn &+= UInt64(frame.count)
      state.uplinkQueue.append(frame)
      state.transmitRound.activate(Self.uplinkSource)
      return true
    }
    if queued { state.signal(.changed) }
  }

  // MARK: The switch thread

  /// Called by a port whose transmit queue gained its first frame.
  func transmitReady(_ port: NetworkPort) {
    let activated = state.withLock { state in
      guard state.byID[port.id] === port else { return false }
      state.transmitRound.activate(port.id)
      return true
    }
    if activated { state.signal(.changed) }
  }

  /// Starts the switch thread.
  public func start() {
    let first = state.withLock { state in
      defer { state.started = true }
      if !state.started { state.threadRunning = true }
      return !state.started
    }
    guard first else { return }
    let thread = Thread { [self] in
      ThreadConfinement.enter(.network)
      run()
    }
    thread.name = "denali-switch"
    thread.stackSize = 1 << 20
    thread.start()
  }

  /// Stops the switch thread and the uplink; frames still queued stay where they are.
  public func stop() {
    state.withLock { $0.stopping = true }
    state.broadcast(.changed)
    let link = state.withLock(waiting: { state in
      state.threadRunning ? .wait(.changed, until: nil) : .done(state.uplink)
    })
    link?.stop()
  }

  /// Waits until the switch has carried every frame queued so far (its round is empty and no batch is in hand), or
  /// its thread has stopped, or `limit` has passed: counters read after it count every frame sent before the call.
  /// Returns false when frames were still in flight at the limit.
  public func settle(within limit: Duration) -> Bool {
    let deadline = monotonicNanoseconds() &+ nanoseconds(limit)
    return state.withLock(waiting: { state in
      if !state.threadRunning || (state.transmitRound.isEmpty && !state.carrying) { return .done(true) }
      let now = monotonicNanoseconds()
      guard now < deadline else { return .done(false) }
      // The switch thread does not announce the end of each batch (its hot path): look again each millisecond.
      return .wait(.changed, until: min(deadline, now &+ 1_000_000))
    })
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
      let (proceed, link): (Bool, (any NetworkUplink)?) = state.withLock(waiting: { state in
        state.carrying = false
        if state.stopping { return .done((false, nil)) }
        if state.transmitRound.isEmpty { return .wait(.changed, until: nil) }
        takeBatch(into: &batch, from: &state)
        state.carrying = true
        return .done((true, state.uplink))
      })
      guard proceed else { break }
      for work in batch { carry(work, uplink: link) }
      batch.removeAll(keepingCapacity: true)
    }
    state.withLock { $0.threadRunning = false }
    state.broadcast(.changed)
  }

  /// Takes up to `batchSize` frames in deficit-round-robin order and decides each.
  private func takeBatch(into batch: inout [Work], from state: inout State) {
    let tables = ForwardingDecision.Tables(
      byMAC: state.byMAC, byIP: state.byIP, hasUplink: state.uplink != nil, isolatesVMs: configuration.isolatesVMs,
      sharedSubnet: configuration.partition.map { _ in (configuration.hostRange, configuration.gateway) })
    while batch.count < Self.batchSize {
      let (byID, uplinkHead) = (state.byID, state.uplinkQueue.first?.count)
      let next = state.transmitRound.next { key in
        key == Self.uplinkSource ? uplinkHead : byID[key]?.transmitHeadLength()
      }
      guard let key = next else { return }
      let sender = key == Self.uplinkSource ? nil : state.byID[key]
      guard let frame = sender?.takeTransmitted() ?? (key == Self.uplinkSource ? state.uplinkQueue.popFirst() : nil)
      else { continue }
      state.transmitRound.charge(key, length: frame.count)
      let decision = ForwardingDecision.decide(EthernetFrame(bytes: frame), from: sender, tables: tables)
      switch decision {
      case .answer: state.answered &+= 1
      case .deliver, .uplink: state.forwarded &+= 1
      case .drop(let reason): if sender == nil { state.uplinkTotals.drop(reason) }
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
    state.withLock { state in
      if written {
        state.uplinkTotals.packetsOut &+= 1
        state.uplinkTotals.bytesOut &+= UInt64(frame.count)
      } else {
        state.uplinkTotals.drop(.uplinkError)
      }
    }
  }
}
