// NetworkPort.swift: one VM's NIC on the virtual switch: its addresses, bounded queues and counters.
import DenaliABI
import DequeModule

/// A VM's port on the `VirtualSwitch`: MAC and IPv4 identity, a bounded transmit queue (filled by the
/// send hypercall, drained by the switch thread), a bounded receive queue (filled by the switch, drained
/// by the receive hypercall) and counters.
///
/// The port outlives the VM's KVM objects: frames for a VM that is not running (idle, not yet started, or
/// swapped out) wait here, and the VM is told through its pending-interrupt mask once it is attached.
public final class NetworkPort: @unchecked Sendable {
  /// Queue sizes.
  public struct Limits: Sendable {
    /// Frames the receive queue holds (default 64; the daemon's `receive-queue`).
    public var receiveFrames: Int
    /// Frames the transmit queue holds before a send gets DENALI_EAGAIN (default 32).
    public var transmitFrames: Int

    /// Frames a receive queue holds unless configured otherwise (the daemon's `receive-queue`).
    public static let defaultReceiveFrames = 64

    /// Limits with the given sizes.
    public init(receiveFrames: Int = Self.defaultReceiveFrames, transmitFrames: Int = 32) {
      self.receiveFrames = max(1, receiveFrames)
      self.transmitFrames = max(1, transmitFrames)
    }
  }

  /// What a receive found.
  public enum Reception: Equatable, Sendable {
    /// The next frame (removed from the queue).
    case frame([UInt8])
    /// Nothing is queued.
    case empty
    /// The next frame is this long, more than the caller's capacity; it stays queued.
    case tooLarge(Int)
  }

  /// Identifies the port on its switch (the VM's id); also the sender key in receive queues.
  public let id: UInt64
  /// The VM's MAC address.
  public let mac: MACAddress
  /// The VM's IPv4 address and its subnet's prefix.
  public let interface: IPv4Subnet
  /// The default gateway shown to the guest (the uplink's host address), if any.
  public let gateway: IPv4Address?
  /// The VM's IPv4 address.
  public var address: IPv4Address { interface.address }

  private struct State {
    var receive: ReceiveQueue
    var transmit = Deque<[UInt8]>()
    var transmitLimit: Int
    /// In the switch's transmit round (or being served by it).
    var transmitScheduled = false
    var counters = NetworkCounters()
    var interrupts: VirtualInterrupts?
    var admission: (@Sendable (NetworkPort) -> Void)?
    /// Removed from its switch: frames are no longer queued (its queue's bytes were given back).
    var closed = false
  }

  private let state: Locked<State>
  /// Told when the transmit queue gains its first frame.
  private weak var fabric: VirtualSwitch?
  /// The bytes all receive queues of the switch may hold together.
  private let memory: ReceiveMemory

  init(
    id: UInt64, mac: MACAddress, interface: IPv4Subnet, gateway: IPv4Address?, limits: Limits, quantum: Int,
    fabric: VirtualSwitch, memory: ReceiveMemory
  ) {
    self.memory = memory
    self.id = id
    self.mac = mac
    self.interface = interface
    self.gateway = gateway
    self.fabric = fabric
    state = Locked(
      State(
        receive: ReceiveQueue(capacity: limits.receiveFrames, quantum: quantum),
        transmitLimit: limits.transmitFrames))
  }

  /// A snapshot of the counters.
  public var counters: NetworkCounters { state.withLock { $0.counters } }

  /// Frames waiting in the receive queue.
  public var receiveQueueLength: Int { state.withLock { $0.receive.count } }

  // MARK: The VM's side (its worker thread, inside the hypercall handlers)

  /// Connects the port to a running VM's interrupt mask; raises DENALI_IRQ_NET_RX at once if frames
  /// are already waiting (they arrived while the VM was not attached).
  public func attach(_ interrupts: VirtualInterrupts) {
    state.withLock { state in
      state.interrupts = interrupts
      if !state.receive.isEmpty { interrupts.raise(DENALI_IRQ_NET_RX) }
    }
  }

  /// Disconnects `interrupts` if it is the one attached (a VM being swapped out or finished); frames
  /// keep queueing, up to the limit.
  public func detach(_ interrupts: VirtualInterrupts) {
    state.withLock { state in
      if state.interrupts === interrupts { state.interrupts = nil }
    }
  }

  /// Installs the function called when a frame arrives in an empty queue while no VM is attached (the
  /// gatekeeper uses it to queue a swapped-out VM for admission).
  public func setAdmissionHandler(_ handler: (@Sendable (NetworkPort) -> Void)?) {
    state.withLock { $0.admission = handler }
  }

  /// Offers a frame the guest sent; false when the transmit queue is full (the guest gets DENALI_EAGAIN).
  func send(_ frame: [UInt8]) -> Bool {
    let schedule: Bool? = state.withLock { state in
      guard state.transmit.count < state.transmitLimit else {
        state.counters.sendsDeferred &+= 1
        return nil
      }
      state.transmit.append(frame)
      state.counters.packetsOut &+= 1
      state.counters.bytesOut &+= UInt64(frame.count)
      defer { state.transmitScheduled = true }
      return !state.transmitScheduled
    }
    guard let schedule else { return false }
    if schedule { fabric?.transmitReady(self) }
    return true
  }

  /// Takes the next received frame if it fits in `capacity` bytes. Afterwards DENALI_IRQ_NET_RX is set
  /// exactly when more frames wait (cleared when the queue is empty, set again if an idle had delivered it),
  /// so the guest can tell from its virtual registers whether to receive again.
  func receive(capacity: Int) -> Reception {
    state.withLock { state in
      guard let length = state.receive.nextLength() else { return .empty }
      guard length <= capacity else { return .tooLarge(length) }
      guard let frame = state.receive.dequeue() else { return .empty }
      memory.give(frame.count)
      state.counters.packetsIn &+= 1
      state.counters.bytesIn &+= UInt64(frame.count)
      if state.receive.isEmpty {
        state.interrupts?.clear(DENALI_IRQ_NET_RX)
      } else {
        // The VM is running (this is its own hypercall): no need to tell the scheduler.
        state.interrupts?.raise(DENALI_IRQ_NET_RX, notifyListener: false)
      }
      return .frame(frame)
    }
  }

  // MARK: The switch's side (its thread)

  /// Length of the next frame to transmit, or nil when none (then the port leaves the transmit round).
  func transmitHeadLength() -> Int? {
    state.withLock { state in
      guard let head = state.transmit.first else {
        state.transmitScheduled = false
        return nil
      }
      return head.count
    }
  }

  /// Removes the next frame to transmit.
  func takeTransmitted() -> [UInt8]? { state.withLock { $0.transmit.popFirst() } }

  /// Queues a frame for the guest from sender `source`; raises DENALI_IRQ_NET_RX when the queue was
  /// empty (or asks for admission when no VM is attached). Returns false when it was dropped.
  func deliver(_ frame: [UInt8], from source: UInt64) -> Bool {
    let (delivered, admission): (Bool, (@Sendable (NetworkPort) -> Void)?) = state.withLock { state in
      guard !state.closed else {
        // Its VM ended while the switch was delivering: counted on the port like any frame for no VM.
        state.counters.drop(.unknownDestination)
        return (false, nil)
      }
      guard memory.take(frame.count) else {
        state.counters.drop(.receiveMemoryFull)
        return (false, nil)
      }
      switch state.receive.enqueue(frame, from: source) {
      case .dropped:
        memory.give(frame.count)
        state.counters.drop(.receiveQueueFull)
        return (false, nil)
      case .queuedDisplacing(_, let bytes):
        // Another sender's newest frame made room for this one.
        memory.give(bytes)
        state.counters.drop(.receiveQueueFull)
        return (true, nil)
      case .queued(let wasEmpty):
        guard wasEmpty else { return (true, nil) }
        if let interrupts = state.interrupts {
          interrupts.raise(DENALI_IRQ_NET_RX)
          return (true, nil)
        }
        return (true, state.admission)
      }
    }
    admission?(self)
    return delivered
  }

  /// Drops every queued frame and gives their bytes back to the daemon-wide limit; frames offered later are
  /// refused. Called when the port leaves its switch.
  func close() {
    state.withLock { state in
      state.closed = true
      memory.give(state.receive.removeAll())
    }
  }

  /// Counts a drop of a frame this VM sent.
  func countDrop(_ reason: DropReason) { state.withLock { $0.counters.drop(reason) } }
}
