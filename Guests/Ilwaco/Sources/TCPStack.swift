// TCPStack.swift: TCP for one VM: listeners, the connection table, passive opens through the bounded
// half-open table, active opens, resets for closed ports, initial sequence numbers (RFC 6528), and one
// event-loop timer for every connection's deadline. Segments come from the `NetworkStack` it is attached to.

/// The TCP layer of a `NetworkStack`, driven by an `EventLoop`: `listen` for servers, `connect` for clients.
/// Every bound is in its `TCPConfiguration`. Segments arriving in one batch of frames are handled first and
/// answered at the end of the batch, so an ACK rides on the reply the application writes in its handler.
public final class TCPStack {
  /// The limits it was created with.
  public let configuration: TCPConfiguration
  /// Counters.
  public internal(set) var statistics = TCPStatistics()

  let network: NetworkStack
  let loop: EventLoop
  let transmitter: TCPTransmitter
  /// Connections in the table, any state but CLOSED.
  private(set) var connections: [TCPConnection] = []
  private var buckets: [TCPConnection?]
  private let bucketShift: UInt32
  private var listeners: [TCPListener] = []
  private var halfOpen: TCPHalfOpenTable
  /// Connections to send from at the end of the batch (or after the NIC was busy), `pendingCount` of them. Each
  /// is in the table, which keeps it alive, so the list does not retain them; `remove` takes one out of it.
  private let pending: UnsafeMutablePointer<Unmanaged<TCPConnection>>
  private var pendingCount = 0
  /// Inside input or timer processing: sends wait for the end of the batch.
  private(set) var inBatch = false
  private var freeSlabs: [UnsafeMutableRawPointer] = []
  /// Buffer sets in use (connections that may still send or have bytes to read).
  public private(set) var buffersInUse = 0
  private let slabSize: Int
  private var timer: EventLoop.Timer?
  private var timerDeadline = UInt64.max
  /// The timer's action, made once (scheduling it then allocates nothing new).
  private var timerAction: (() -> Void)?
  private let isnKey0: UInt64
  private let isnKey1: UInt64
  private var nextEphemeralPort: UInt16
  private var challengeSecond: UInt64 = 0
  private var challengesThisSecond = 0

  /// TCP over `network`, with its timer on `loop`; nil if `configuration` is out of range.
  public init?(network: NetworkStack, loop: EventLoop, configuration: TCPConfiguration = TCPConfiguration()) {
    guard configuration.isValid else { return nil }
    self.configuration = configuration
    self.network = network
    self.loop = loop
    transmitter = TCPTransmitter(network: network)
    var bucketCount = 16
    var bits: UInt32 = 4
    while bucketCount < 2 * configuration.maximumConnections {
      bucketCount *= 2
      bits += 1
    }
    buckets = [TCPConnection?](repeating: nil, count: bucketCount)
    bucketShift = 32 - bits
    halfOpen = TCPHalfOpenTable(capacity: configuration.maximumHalfOpen)
    connections.reserveCapacity(configuration.maximumConnections)
    pending = .allocate(capacity: configuration.maximumConnections)
    freeSlabs.reserveCapacity(configuration.maximumConnections)
    slabSize = configuration.sendBufferSize + configuration.receiveBufferSize + 8 * TCPReassemblyQueue.capacity
    isnKey0 = Random.seed
    isnKey1 = Random.next()
    nextEphemeralPort = 49152 + UInt16(truncatingIfNeeded: Random.next() % 16384)
    network.tcp = self
    timerAction = { [unowned(unsafe) self] in self.timerFired() }
  }

  /// Connections in the table (any state from SYN-SENT to TIME-WAIT).
  public var connectionCount: Int { connections.count }
  /// Half-open passive connections waiting for the ACK of our SYN-ACK.
  public var halfOpenCount: Int { halfOpen.count }

  // MARK: Application interface

  /// Listens on `port`: every connection established on it is passed to `accept`. Nil if the port is 0 or
  /// already has a listener.
  public func listen(port: UInt16, _ accept: @escaping (TCPConnection) -> Void) -> TCPListener? {
    guard port != 0, listener(for: port) == nil else { return nil }
    let listener = TCPListener(stack: self, port: port, accept: accept)
    listeners.append(listener)
    return listener
  }

  /// Opens a connection to `address`:`port` from a free ephemeral port; `handler` gets `.connected` once it
  /// is established (or `.closed(.refused / .timedOut)`). Nil when no connection can be added, the address is
  /// not usable, or no local port is free.
  public func connect(
    to address: IPv4Address, port: UInt16, _ handler: @escaping (TCPConnection, TCPEvent) -> Void
  ) -> TCPConnection? {
    guard port != 0, address != .zero, address != .broadcast, address != network.address else { return nil }
    var localPort: UInt16 = 0
    var tries = 0
    while tries < 16384 {
      let candidate = nextEphemeralPort
      nextEphemeralPort = nextEphemeralPort == 65535 ? 49152 : nextEphemeralPort + 1
      tries += 1
      if listener(for: candidate) == nil && find(remote: address.value, remotePort: port, localPort: candidate) == nil {
        localPort = candidate
        break
      }
    }
    guard localPort != 0 else { return nil }
    let now = Clock.monotonicNanoseconds
    let iss = initialSequence(localPort: localPort, remote: address, remotePort: port, now: now)
    guard
      let connection = makeConnection(
        localPort: localPort, remote: address, remotePort: port, hopMAC: network.hopMAC(for: address) ?? 0, iss: iss,
        state: .synSent)
    else { return nil }
    connection.handler = handler
    statistics.connectionsStarted &+= 1
    connection.scheduleOutput()
    return connection
  }

  // MARK: Batches (called by NetworkStack.poll)

  /// A batch of frames begins: sends wait until it ends.
  func beginBatch() { inBatch = true }

  /// The batch ended: send what the connections owe (data, ACKs), one pass; then call back handshakes waiting
  /// for room, if some appeared.
  func endBatch() {
    flush()
    inBatch = false
    if halfOpen.waitingCount > 0 { promptWaiting(now: Clock.monotonicNanoseconds) }
  }

  /// Queues `connection` to send at the end of the batch (or at once outside one).
  func queueOutput(_ connection: TCPConnection) {
    guard inBatch else { return connection.output() }
    enqueue(connection)
  }

  /// The NIC was busy for `connection`: try again after `busyRetryNanoseconds`.
  func retryLater(_ connection: TCPConnection) {
    enqueue(connection)
    armTimer(at: Clock.monotonicNanoseconds &+ configuration.busyRetryNanoseconds)
  }

  /// Adds `connection` to the pending list once (only connections in the table: the list does not keep them alive).
  private func enqueue(_ connection: TCPConnection) {
    guard !connection.outputQueued, connection.tableIndex >= 0, pendingCount < configuration.maximumConnections else {
      return
    }
    connection.outputQueued = true
    // SAFETY: pendingCount < maximumConnections, the list's capacity.
    pending[pendingCount] = Unmanaged.passUnretained(connection)
    pendingCount += 1
  }

  /// Runs `output()` of every queued connection (stopping early if the NIC is busy; those stay queued, in order).
  private func flush() {
    var index = 0
    var kept = 0
    var busy = false
    // SAFETY (the list): indexes stay below pendingCount; every entry is a live connection in the table (output
    // never takes one out of it, and `remove` drops a connection's entry when it leaves the table).
    while index < pendingCount {
      let entry = pending[index]
      index += 1
      if !busy {
        entry._withUnsafeGuaranteedRef { connection in
          connection.output()
          if connection.retryOutput { busy = true } else { connection.outputQueued = false }
        }
      }
      if entry._withUnsafeGuaranteedRef({ $0.outputQueued }) {
        pending[kept] = entry
        kept += 1
      }
    }
    pendingCount = kept
  }

  // MARK: Input

  /// A TCP segment of `length` bytes at `frame + offset`, to this VM's address, from `source`.
  func receive(_ frame: UnsafeRawPointer, at offset: Int, length: Int, source: IPv4Address) {
    guard let segment = TCPSegment.parse(frame, at: offset, length: length) else {
      statistics.segmentsMalformed &+= 1
      return
    }
    statistics.segmentsReceived &+= 1
    let now = Clock.monotonicNanoseconds
    if let connection = find(remote: source.value, remotePort: segment.sourcePort, localPort: segment.destinationPort) {
      // A new SYN beyond a TIME-WAIT connection's sequence space reopens it (RFC 9293 3.6.1), and so does any new
      // SYN once the connection has been quiet in TIME-WAIT for a while (see `TCPConfiguration`).
      guard segment.flags & (TCPFlags.syn | TCPFlags.ack | TCPFlags.rst) == TCPFlags.syn,
        connection.reopens(at: segment.sequence, now: now)
      else {
        connection.input(segment, now: now)
        return
      }
      statistics.timeWaitReopened &+= 1
      connection.terminate(nil)
    }
    if let listener = listener(for: segment.destinationPort) {
      listen(listener, segment: segment, source: source, now: now)
      return
    }
    // No connection and no listener (RFC 9293 3.10.7.1): a reset for anything but a reset.
    sendReset(for: segment, to: source, hopMAC: 0)
  }

  /// A segment for a listening port: a SYN opens a half-open entry, the ACK of our SYN-ACK completes it.
  private func listen(_ listener: TCPListener, segment: TCPSegment, source: IPv4Address, now: UInt64) {
    let existing = halfOpen.find(remote: source.value, remotePort: segment.sourcePort, localPort: listener.port)
    if segment.has(TCPFlags.rst) {
      // Only a reset exactly at the next sequence number ends a half-open connection (RFC 5961 3.2).
      if let index = existing, segment.sequence == halfOpen[index].irs + 1 {
        statistics.resetsReceived &+= 1
        halfOpen.remove(at: index)
      }
      return
    }
    if segment.has(TCPFlags.ack) {
      guard let index = existing, !segment.has(TCPFlags.syn), segment.acknowledgment == halfOpen[index].iss + 1 else {
        sendReset(for: segment, to: source, hopMAC: 0)
        return
      }
      let entry = halfOpen[index]
      // The ACK at IRS + 1; or, from a peer whose data we dropped while it waited in the backlog, the ACK it
      // answers our SYN-ACK with: at its next sequence number, within the window we offered.
      let ahead = segment.sequence - (entry.irs + 1)
      guard
        ahead == 0
          || (entry.waiting && segment.payloadLength == 0 && ahead > 0
            && ahead < UInt32(min(configuration.receiveBufferSize, 65535)))
      else { return }
      complete(entry, at: index, listener: listener, segment: segment, source: source, now: now)
      return
    }
    guard segment.has(TCPFlags.syn) else { return }
    if let index = existing {
      // The SYN again (our SYN-ACK was lost), or a new one from the same port: answer it.
      var entry = halfOpen[index]
      entry.irs = segment.sequence
      halfOpen[index] = entry
      sendSynAck(entry)
      return
    }
    let iss = initialSequence(localPort: listener.port, remote: source, remotePort: segment.sourcePort, now: now)
    let entry = TCPHalfOpen(
      remoteAddress: source.value, remotePort: segment.sourcePort, localPort: listener.port,
      peerMSS: segment.maximumSegmentSize, peerWindow: segment.window, retransmissions: 0,
      hopMAC: network.hopMAC(for: source) ?? 0, iss: iss, irs: segment.sequence,
      deadline: now &+ TCPRetransmissionTimeout.initial, created: now)
    let added = halfOpen.add(entry)
    if added.replacedOldest { statistics.halfOpenDropped &+= 1 }
    armTimer(at: entry.deadline)
    sendSynAck(entry)
  }

  /// The handshake of a half-open connection completed: make it a connection and hand it to the listener, then
  /// process the rest of the segment (data, FIN). Without room in the connection table the entry waits (the
  /// listen backlog, as Linux's accept queue): the segment is dropped, so the peer sends it again, and it
  /// completes the handshake once a connection has ended; a waiting entry that runs out of SYN-ACK retries is
  /// dropped, and the peer's next segment gets a reset.
  private func complete(
    _ entry: TCPHalfOpen, at index: Int, listener: TCPListener, segment: TCPSegment, source: IPv4Address, now: UInt64
  ) {
    guard makeRoom() else {
      if !entry.waiting { statistics.connectionsQueued &+= 1 }
      halfOpen.markWaiting(at: index)
      return
    }
    halfOpen.remove(at: index)
    guard
      let connection = makeConnection(
        localPort: entry.localPort, remote: source, remotePort: entry.remotePort, hopMAC: entry.hopMAC, iss: entry.iss,
        state: .established)
    else {
      sendReset(for: segment, to: source, hopMAC: entry.hopMAC)
      return
    }
    connection.establishPassive(entry, segment: segment, now: now)
    statistics.connectionsAccepted &+= 1
    listener.accept(connection)
    // An ACK ahead of IRS + 1 (see `listen`) carries nothing to process: the peer sends its data again from IRS + 1,
    // and those segments may update the window.
    guard segment.sequence == entry.irs + 1 else {
      connection.sndWl1 = entry.irs + 1
      return
    }
    connection.input(segment, now: now)
  }

  private func sendSynAck(_ entry: TCPHalfOpen) {
    let segment = TCPOutgoingSegment(
      localPort: entry.localPort, remotePort: entry.remotePort, sequence: entry.iss, acknowledgment: entry.irs + 1,
      flags: TCPFlags.syn | TCPFlags.ack, window: UInt16(min(configuration.receiveBufferSize, 65535)),
      maximumSegmentSize: UInt16(TCPTransmitter.maximumSegmentSize))
    let result = transmitter.send(
      segment, to: IPv4Address(value: entry.remoteAddress), hopMAC: entry.hopMAC, ring: nil, payloadStart: entry.iss,
      count: 0)
    if result == .busy { statistics.sendsBusy &+= 1 } else { statistics.segmentsSent &+= 1 }
  }

  /// A reset answering `segment` from a peer with no connection here (RFC 9293 3.10.7.1); nothing for a reset.
  func sendReset(for segment: TCPSegment, to remote: IPv4Address, hopMAC: UInt64) {
    guard !segment.has(TCPFlags.rst) else { return }
    var reply = TCPOutgoingSegment(
      localPort: segment.destinationPort, remotePort: segment.sourcePort, sequence: TCPSequence(0),
      acknowledgment: TCPSequence(0), flags: TCPFlags.rst, window: 0)
    if segment.has(TCPFlags.ack) {
      reply.sequence = segment.acknowledgment
    } else {
      reply.acknowledgment = segment.end
      reply.flags |= TCPFlags.ack
    }
    let hop = hopMAC != 0 ? hopMAC : (network.hopMAC(for: remote) ?? 0)
    let result = transmitter.send(reply, to: remote, hopMAC: hop, ring: nil, payloadStart: reply.sequence, count: 0)
    if result == .busy { statistics.sendsBusy &+= 1 } else { statistics.resetsSent &+= 1 }
  }

  /// Whether a challenge ACK may be sent now (at most `challengeAcksPerSecond`, RFC 5961 7).
  func allowChallengeAck(now: UInt64) -> Bool {
    let second = now / 1_000_000_000
    if second != challengeSecond {
      challengeSecond = second
      challengesThisSecond = 0
    }
    guard challengesThisSecond < configuration.challengeAcksPerSecond else { return false }
    challengesThisSecond += 1
    return true
  }

  // MARK: Connection table

  @inline(__always)
  private func bucket(remote: UInt32, remotePort: UInt16, localPort: UInt16) -> Int {
    let key = remote ^ (UInt32(remotePort) << 16 | UInt32(localPort))
    return Int((key &* 0x9E37_79B1) >> bucketShift)
  }

  /// The connection for this peer and local port.
  func find(remote: UInt32, remotePort: UInt16, localPort: UInt16) -> TCPConnection? {
    var candidate = buckets[bucket(remote: remote, remotePort: remotePort, localPort: localPort)]
    while let connection = candidate {
      if connection.remoteAddress.value == remote && connection.remotePort == remotePort
        && connection.localPort == localPort
      {
        return connection
      }
      candidate = connection.nextInBucket
    }
    return nil
  }

  private func listener(for port: UInt16) -> TCPListener? {
    for listener in listeners where listener.port == port { return listener }
    return nil
  }

  func removeListener(_ listener: TCPListener) {
    listeners.removeAll { $0 === listener }
  }

  /// Whether a connection can be added now, after reclaiming the oldest TIME-WAIT connection if that is needed.
  private func makeRoom() -> Bool {
    if connections.count >= configuration.maximumConnections || buffersInUse >= configuration.maximumConnections {
      reclaimTimeWait()
    }
    return connections.count < configuration.maximumConnections && buffersInUse < configuration.maximumConnections
  }

  /// Connections that could be added now (a TIME-WAIT connection counts: it would be reclaimed).
  private var room: Int {
    var free = configuration.maximumConnections - max(connections.count, buffersInUse)
    if free <= 0 && buffersInUse < configuration.maximumConnections {
      for connection in connections where connection.state == .timeWait { return 1 }
    }
    if free < 0 { free = 0 }
    return free
  }

  /// Sends the SYN-ACK again to as many handshakes waiting in the backlog as there is room for, oldest first (each
  /// at most once per minimum retransmission timeout), so that their peers' ACKs come back and complete them.
  private func promptWaiting(now: UInt64) {
    var free = room
    let since = now &- min(now, configuration.minimumRetransmissionNanoseconds)
    while free > 0, let index = halfOpen.oldestWaiting(promptedBefore: since) {
      var entry = halfOpen[index]
      entry.promptedAt = now
      halfOpen[index] = entry
      sendSynAck(entry)
      free -= 1
    }
  }

  /// A new connection with buffers, in the table; nil when `maximumConnections` are in use (after
  /// reclaiming the oldest TIME-WAIT connection if that makes room).
  private func makeConnection(
    localPort: UInt16, remote: IPv4Address, remotePort: UInt16, hopMAC: UInt64, iss: TCPSequence, state: TCPState
  ) -> TCPConnection? {
    guard makeRoom(), let slab = takeSlab() else {
      statistics.connectionsRefused &+= 1
      return nil
    }
    let connection = TCPConnection(
      stack: self, slab: slab, localPort: localPort, remoteAddress: remote, remotePort: remotePort, hopMAC: hopMAC,
      iss: iss, state: state)
    let index = bucket(remote: remote.value, remotePort: remotePort, localPort: localPort)
    connection.nextInBucket = buckets[index]
    buckets[index] = connection
    connection.tableIndex = connections.count
    connections.append(connection)
    return connection
  }

  /// Ends the TIME-WAIT connection closest to its end, if there is one.
  private func reclaimTimeWait() {
    var oldest: TCPConnection?
    for connection in connections where connection.state == .timeWait {
      if oldest == nil || connection.deadline < (oldest?.deadline ?? .max) { oldest = connection }
    }
    guard let oldest else { return }
    statistics.timeWaitReclaimed &+= 1
    // The ACK of the peer's FIN may still be owed (queued for the end of this batch): send it first, or the peer
    // sends its FIN again and gets a reset.
    if oldest.ackPending { oldest.sendAcknowledgment() }
    oldest.terminate(nil)
  }

  /// Takes `connection` out of the table (nothing if it is not in it), and out of the pending list.
  func remove(_ connection: TCPConnection) {
    let index = connection.tableIndex
    guard index >= 0 else { return }
    if connection.outputQueued {
      connection.outputQueued = false
      var position = 0
      // SAFETY: positions stay below pendingCount.
      while position < pendingCount && pending[position].toOpaque() != Unmanaged.passUnretained(connection).toOpaque() {
        position += 1
      }
      if position < pendingCount {
        (pending + position).update(from: pending + position + 1, count: pendingCount - position - 1)
        pendingCount -= 1
      }
    }
    let slot = bucket(
      remote: connection.remoteAddress.value, remotePort: connection.remotePort, localPort: connection.localPort)
    if buckets[slot] === connection {
      buckets[slot] = connection.nextInBucket
    } else {
      var previous = buckets[slot]
      while let current = previous, let next = current.nextInBucket {
        if next === connection {
          current.nextInBucket = connection.nextInBucket
          break
        }
        previous = next
      }
    }
    connection.nextInBucket = nil
    let last = connections.count - 1
    if index != last {
      connections[index] = connections[last]
      connections[index].tableIndex = index
    }
    connections.removeLast()
    connection.tableIndex = -1
  }

  private func takeSlab() -> UnsafeMutableRawPointer? {
    guard buffersInUse < configuration.maximumConnections else { return nil }
    buffersInUse += 1
    if let slab = freeSlabs.popLast() { return slab }
    return UnsafeMutableRawPointer.allocate(byteCount: slabSize, alignment: 16)
  }

  /// Takes back a connection's buffers (kept for the next connection, never freed: at most
  /// `maximumConnections` sets ever exist).
  func releaseSlab(_ slab: UnsafeMutableRawPointer) {
    buffersInUse -= 1
    freeSlabs.append(slab)
  }

  // MARK: Timer

  /// Makes the stack's event-loop timer fire no later than `deadline`.
  func armTimer(at deadline: UInt64) {
    guard deadline < timerDeadline else { return }
    if let timer { loop.cancel(timer) }
    timerDeadline = deadline
    let now = Clock.monotonicNanoseconds
    guard let action = timerAction else { return }
    timer = loop.schedule(afterNanoseconds: deadline > now ? deadline - now : 0, action)
  }

  /// The timer fired: expire every due connection and half-open entry, send what is owed, and set the timer
  /// for the next deadline.
  private func timerFired() {
    timer = nil
    timerDeadline = .max
    inBatch = true
    // Segments that arrived while the VM was busy come first: an ACK waiting there makes a retransmission
    // needless, and the host's receive queue, full under load, gets room for the ACK of the retransmission
    // (sent before the batch's other output). Without this, a loaded server retransmitted into a full queue
    // at every timeout and lost every answer, until the peer gave up.
    if network.hasQueuedFrames { network.receiveQueued() }
    let now = Clock.monotonicNanoseconds
    var index = connections.count - 1
    while index >= 0 {
      if index < connections.count {
        let connection = connections[index]
        if connection.deadline <= now { connection.timerExpired(now: now) }
      }
      index -= 1
    }
    expireHalfOpen(now: now)
    flush()
    inBatch = false
    if halfOpen.waitingCount > 0 { promptWaiting(now: now) }
    var next = halfOpen.earliestDeadline
    for connection in connections where connection.deadline < next { next = connection.deadline }
    if pendingCount > 0 { next = min(next, now &+ configuration.busyRetryNanoseconds) }
    if next != .max { armTimer(at: next) }
  }

  /// Sends due SYN-ACKs again (doubling the wait), dropping entries that had all their tries.
  private func expireHalfOpen(now: UInt64) {
    var index = halfOpen.count - 1
    while index >= 0 {
      var entry = halfOpen[index]
      if entry.deadline <= now {
        if Int(entry.retransmissions) >= configuration.maximumSynRetransmissions {
          // A handshake that waited this long for room is refused (its peer's next segment gets a reset).
          if entry.waiting { statistics.connectionsRefused &+= 1 }
          halfOpen.remove(at: index)
        } else {
          entry.retransmissions += 1
          entry.deadline = now &+ (TCPRetransmissionTimeout.initial << UInt64(entry.retransmissions))
          halfOpen[index] = entry
          statistics.retransmissions &+= 1
          sendSynAck(entry)
        }
      }
      index -= 1
    }
  }

  // MARK: Initial sequence numbers

  /// RFC 6528: a 4-microsecond clock plus a keyed hash (SipHash-2-4 with the VM's secret) of the connection's
  /// addresses and ports, so numbers grow for one connection identity and cannot be guessed for another.
  private func initialSequence(localPort: UInt16, remote: IPv4Address, remotePort: UInt16, now: UInt64) -> TCPSequence {
    var hash = SipHash(key0: isnKey0, key1: isnKey1)
    hash.combine(UInt64(network.address.value) << 32 | UInt64(remote.value))
    hash.combine(UInt64(localPort) << 16 | UInt64(remotePort))
    return TCPSequence(UInt32(truncatingIfNeeded: now >> 12) &+ UInt32(truncatingIfNeeded: hash.finalize()))
  }
}

extension TCPConnection {
  /// Fills in a passive connection from its half-open entry and the ACK that completed the handshake.
  func establishPassive(_ entry: TCPHalfOpen, segment: TCPSegment, now: UInt64) {
    irs = entry.irs
    rcvNxt = irs + 1
    readPosition = rcvNxt
    rcvAdv = rcvNxt + UInt32(min(stack.configuration.receiveBufferSize, 65535))
    sndUna = iss + 1
    sndNxt = sndUna
    sndMax = sndUna
    let peer = entry.peerMSS == 0 ? 536 : UInt32(entry.peerMSS)
    mss = max(min(peer, UInt32(TCPTransmitter.maximumSegmentSize)), 64)
    cwnd = min(10 * mss, max(2 * mss, 14600))
    sndWnd = UInt32(segment.window)
    maxSndWnd = max(sndWnd, UInt32(entry.peerWindow))
    sndWl1 = segment.sequence
    sndWl2 = segment.acknowledgment
    if entry.retransmissions == 0 {
      rto.sample(now &- entry.created)
    } else {
      rto.restartAfterSynTimeout()
    }
  }
}
