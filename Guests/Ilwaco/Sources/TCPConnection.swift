// TCPConnection.swift: one TCP connection: its transmission control block (RFC 9293 section 3.3.1) and the
// application's side of it: read, write, shutdown, close, abort, and events through one handler.
// Segment arrival is in TCPInput.swift, sending in TCPOutput.swift, timer expiry in TCPTimers.swift.

/// A TCP connection (from `TCPStack.connect` or a `TCPListener`). Events come to `handler` from the event
/// loop; reading and writing never block: `write` takes what fits in the send buffer, `read` what has arrived.
/// After `close()` or `abort()` the handler is never called again.
public final class TCPConnection {
  /// The local port.
  public let localPort: UInt16
  /// The peer's address.
  public let remoteAddress: IPv4Address
  /// The peer's port.
  public let remotePort: UInt16
  /// Where the connection is in its life.
  public internal(set) var state: TCPState
  /// Receives the connection's events (set it in the listener's `accept`, or pass it to `connect`).
  public var handler: ((TCPConnection, TCPEvent) -> Void)?

  let stack: TCPStack
  /// The next hop's MAC (0: unknown, ask the ARP cache).
  var hopMAC: UInt64
  /// The next connection in this one's hash bucket.
  var nextInBucket: TCPConnection?
  /// Index in the stack's connection list (-1: not in the table).
  var tableIndex = -1
  /// In the stack's list of connections to send from at the end of the batch.
  var outputQueued = false
  /// The last send found the NIC's queue full.
  var retryOutput = false

  // Buffers: one allocation (`slab`) holds the send ring, the receive ring and the reassembly ranges; nil once
  // released (the connection is done and nothing is left to read).
  var slab: UnsafeMutableRawPointer?
  let sendRing: TCPRingBuffer
  let receiveRing: TCPRingBuffer
  var reassembly: TCPReassemblyQueue

  // Send sequence space (RFC 9293 3.3.1).
  let iss: TCPSequence
  var sndUna: TCPSequence
  var sndNxt: TCPSequence
  /// Highest SND.NXT so far (SND.NXT goes back to SND.UNA after a timeout).
  var sndMax: TCPSequence
  /// After the last byte the application wrote (the FIN's sequence number once `finQueued`).
  var sendEnd: TCPSequence
  var sndWnd: UInt32 = 0
  var maxSndWnd: UInt32 = 0
  var sndWl1 = TCPSequence(0)
  var sndWl2 = TCPSequence(0)
  /// Payload bytes per segment we send.
  var mss: UInt32 = 536
  /// The application shut down its sending side: a FIN follows the last byte.
  var finQueued = false

  // Congestion control (RFC 5681, NewReno RFC 6582).
  var cwnd: UInt32 = 0
  var ssthresh: UInt32 = 0xFFFF_FFFF
  var duplicateAcks = 0
  var recover: TCPSequence
  var inFastRecovery = false

  // Retransmission (RFC 6298) and round-trip timing of one segment at a time (Karn).
  var rto: TCPRetransmissionTimeout
  var timedSequence = TCPSequence(0)
  /// When the timed segment was sent (0: none timed).
  var timedSince: UInt64 = 0
  var retransmissionCount = 0
  /// Zero-window probing (persist timer) is on; the probe interval's doubling count.
  var persisting = false
  var persistBackoff = 0

  // Receive sequence space.
  var irs = TCPSequence(0)
  var rcvNxt = TCPSequence(0)
  /// The next byte the application reads.
  var readPosition = TCPSequence(0)
  /// The right edge of the window last advertised.
  var rcvAdv = TCPSequence(0)
  /// The peer's FIN has been taken (RCV.NXT counts it).
  var finReceived = false
  /// A FIN that arrived ahead of missing data, at this sequence number.
  var pendingFin: TCPSequence?
  /// An ACK is owed (sent with the next segment, or alone at the end of the batch).
  var ackPending = false
  /// Bytes received in order since the last ACK we sent.
  var unacknowledgedBytes: UInt32 = 0

  /// When this connection's timer expires: retransmission, zero-window probe, FIN-WAIT-2 or TIME-WAIT,
  /// depending on the state (`UInt64.max`: none).
  var deadline = UInt64.max
  /// When this connection entered TIME-WAIT (or last took the peer's FIN again in it).
  var timeWaitSince: UInt64 = 0

  // The application's side.
  var appClosed = false
  var wantsWritable = false
  var closedReported = false
  var connectedEvent = false
  var readableEvent = false
  var writableEvent = false

  init(
    stack: TCPStack, slab: UnsafeMutableRawPointer, localPort: UInt16, remoteAddress: IPv4Address, remotePort: UInt16,
    hopMAC: UInt64, iss: TCPSequence, state: TCPState
  ) {
    self.stack = stack
    self.slab = slab
    self.localPort = localPort
    self.remoteAddress = remoteAddress
    self.remotePort = remotePort
    self.hopMAC = hopMAC
    self.iss = iss
    self.state = state
    let configuration = stack.configuration
    // SAFETY: the slab is TCPStack.slabSize bytes: the send ring, then the receive ring, then the ranges.
    sendRing = TCPRingBuffer(storage: slab, capacity: configuration.sendBufferSize)
    receiveRing = TCPRingBuffer(storage: slab + configuration.sendBufferSize, capacity: configuration.receiveBufferSize)
    reassembly = TCPReassemblyQueue(
      bounds: (slab + configuration.sendBufferSize + configuration.receiveBufferSize).bindMemory(
        to: UInt32.self, capacity: 2 * TCPReassemblyQueue.capacity))
    sndUna = iss
    sndNxt = iss
    sndMax = iss
    sendEnd = iss + 1
    recover = iss
    rto = TCPRetransmissionTimeout(minimum: configuration.minimumRetransmissionNanoseconds)
  }

  // MARK: Reading

  /// After the last byte of data received in order (RCV.NXT less the FIN).
  var dataEnd: TCPSequence { finReceived ? rcvNxt - 1 : rcvNxt }

  /// Bytes that can be read now.
  public var readableBytes: Int { slab == nil ? 0 : Int(dataEnd - readPosition) }

  /// Whether nothing more will ever be readable: the peer closed its side (or the connection is gone) and
  /// every byte has been read.
  public var isReadClosed: Bool { readableBytes == 0 && (finReceived || state == .closed || slab == nil) }

  /// The readable bytes that are contiguous in the receive buffer (all of them, or the part before the
  /// buffer's end; after `consume` the rest follows). Valid until the next `consume` or `read`.
  public func peek() -> UnsafeRawBufferPointer {
    let count = readableBytes
    guard count > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
    return receiveRing.contiguous(at: readPosition, count: count)
  }

  /// Copies up to `buffer.count` readable bytes into `buffer`, removes them, and returns how many.
  public func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
    let count = min(buffer.count, readableBytes)
    guard count > 0, let base = buffer.baseAddress else { return 0 }
    receiveRing.load(at: readPosition, into: base, count: count)
    consume(count)
    return count
  }

  /// Removes the first `count` readable bytes (at most `readableBytes`), making room in the window.
  public func consume(_ count: Int) {
    let taken = min(max(count, 0), readableBytes)
    guard taken > 0 else { return }
    readPosition += UInt32(truncatingIfNeeded: taken)
    if state.receivesData {
      // Tell the peer about the larger window once it grew enough (RFC 9293 3.8.6.2.2, receiver's SWS
      // avoidance) and what it may still send is under half the buffer.
      let capacity = UInt32(truncatingIfNeeded: receiveRing.capacity)
      let rightEdge = readPosition + capacity
      let offered: UInt32 = rcvAdv > rcvNxt ? rcvAdv - rcvNxt : 0
      if rightEdge > rcvAdv && rightEdge - rcvAdv >= min(capacity / 2, mss) && offered < capacity / 2 {
        ackPending = true
        scheduleOutput()
      }
    } else {
      releaseBuffersIfDone()
    }
  }

  // MARK: Writing

  /// The first byte still in the send buffer (unacknowledged, or not yet sent).
  private var sendStart: TCPSequence { sndUna == iss ? iss + 1 : sndUna }

  /// Bytes `write` would take now.
  public var writableBytes: Int {
    guard slab != nil, !finQueued, canSend else { return 0 }
    return sendRing.capacity - Int(sendEnd - sendStart)
  }

  private var canSend: Bool {
    switch state {
    case .synSent, .synReceived, .established, .closeWait: true
    default: false
    }
  }

  /// Queues as many of `bytes` as fit in the send buffer and returns how many; a `.writable` event follows
  /// once there is room again if not all fitted. Sending happens at the end of the current event (or now,
  /// outside the event loop's handlers). 0 after `shutdown` or once the connection cannot send.
  @discardableResult
  public func write(_ bytes: UnsafeRawBufferPointer) -> Int {
    let count = min(bytes.count, writableBytes)
    if count < bytes.count { wantsWritable = true }
    guard count > 0, let base = bytes.baseAddress else { return 0 }
    sendRing.store(at: sendEnd, from: base, count: count)
    sendEnd += UInt32(truncatingIfNeeded: count)
    if state.isSynchronized { scheduleOutput() }
    return count
  }

  /// `write` of a static string's bytes.
  @discardableResult
  public func write(_ text: StaticString) -> Int {
    write(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
  }

  // MARK: Closing

  /// Closes the sending side: a FIN follows the bytes already written. Reading goes on until the peer closes.
  public func shutdown() {
    guard !finQueued else { return }
    switch state {
    case .synSent:
      terminate(nil)
      return
    case .synReceived, .established: state = .finWait1
    case .closeWait: state = .lastAck
    default: return
    }
    finQueued = true
    scheduleOutput()
  }

  /// Closes the connection: `shutdown()` (the bytes written are still delivered), and the application is
  /// done with it: no more events; bytes that arrive from now on make it reset the connection. Closing with
  /// unread bytes resets it at once (as Linux does), as does closing before it is established.
  public func close() {
    guard !appClosed else { return }
    if readableBytes > 0 || state == .synSent || state == .synReceived {
      abort()
      return
    }
    appClosed = true
    handler = nil
    shutdown()
    if state == .finWait2 { setDeadline(Clock.monotonicNanoseconds &+ stack.configuration.finWait2Nanoseconds) }
    releaseBuffersIfDone()
  }

  /// Resets the connection now (a RST to the peer); unsent and unread bytes are dropped. No more events.
  public func abort() {
    appClosed = true
    handler = nil
    if state != .closed && state != .timeWait {
      sendReset()
    }
    readPosition = dataEnd
    terminate(nil)
  }

  // MARK: Internals shared by input, output and timers

  /// Sends now, or at the end of the batch when called from the stack's input or timer processing.
  func scheduleOutput() {
    if stack.inBatch {
      stack.queueOutput(self)
    } else {
      output()
    }
  }

  /// Sets the timer deadline and makes sure the stack's timer fires by then.
  func setDeadline(_ value: UInt64) {
    deadline = value
    if value != .max { stack.armTimer(at: value) }
  }

  /// Ends the connection: out of the table, buffers released if nothing is left to read, `.closed(reason)`
  /// to the handler (nil: no event), handler dropped.
  func terminate(_ reason: TCPCloseReason?) {
    state = .closed
    deadline = .max
    persisting = false
    stack.remove(self)
    if reason != nil && reason != .finished { readPosition = dataEnd }  // RFC 9293: a reset flushes the queues
    releaseBuffersIfDone()
    reportClosed(reason)
  }

  /// Tells the handler the connection is over (once), then drops the handler.
  func reportClosed(_ reason: TCPCloseReason?) {
    if let reason, !closedReported, !appClosed, let handler {
      closedReported = true
      handler(self, .closed(reason))
    }
    closedReported = true
    handler = nil
  }

  /// Whether a new SYN at `sequence` may end this TIME-WAIT connection and open a new one at `now`: beyond the old
  /// connection's sequence space, or once the quiet time has passed (`TCPConfiguration.timeWaitQuietNanoseconds`).
  func reopens(at sequence: TCPSequence, now: UInt64) -> Bool {
    state == .timeWait
      && (sequence > rcvNxt || now &- timeWaitSince >= stack.configuration.timeWaitQuietNanoseconds)
  }

  /// When a TIME-WAIT that starts (or starts again) at `now` ends: `.max`, no timer, with a `.max` configuration.
  func timeWaitDeadline(now: UInt64) -> UInt64 {
    let length = stack.configuration.timeWaitNanoseconds
    return length == .max ? .max : now &+ length
  }

  /// Enters TIME-WAIT: the application is told the connection finished; only the TCB stays, for the timeout.
  func enterTimeWait(now: UInt64) {
    state = .timeWait
    timeWaitSince = now
    persisting = false
    setDeadline(timeWaitDeadline(now: now))
    releaseBuffersIfDone()
    reportClosed(.finished)
  }

  /// Returns the buffers to the stack once the connection no longer sends and nothing is left to read.
  func releaseBuffersIfDone() {
    guard let buffers = slab, state == .closed || state == .timeWait, appClosed || readableBytes == 0 else { return }
    slab = nil
    stack.releaseSlab(buffers)
  }

  /// Delivers the events input collected, each only while the application still listens.
  func deliverEvents() {
    if connectedEvent {
      connectedEvent = false
      if let handler, !appClosed { handler(self, .connected) }
    }
    if readableEvent {
      readableEvent = false
      if let handler, !appClosed { handler(self, .readable) }
    }
    if writableEvent {
      writableEvent = false
      if let handler, !appClosed, writableBytes > 0 {
        wantsWritable = false
        handler(self, .writable)
      }
    }
  }
}
