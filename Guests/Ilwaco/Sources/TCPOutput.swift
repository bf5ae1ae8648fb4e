// TCPOutput.swift: what a connection sends: its SYN or SYN-ACK, data within the send and congestion windows
// (with sender-side silly window avoidance), its FIN, ACKs with the window we offer, resets, and
// retransmissions of the first unacknowledged segment.

extension TCPConnection {
  /// Sends whatever is due now: SYN, data, FIN, or an owed ACK. Stops (and retries later) when the NIC is busy.
  func output() {
    retryOutput = false
    switch state {
    case .synSent, .synReceived:
      if sndNxt == iss { sendSyn() }
      return
    case .closed:
      return
    case .timeWait:
      if ackPending { sendAcknowledgment() }
      return
    default:
      break
    }
    guard slab != nil else {
      if ackPending { sendAcknowledgment() }
      return
    }
    let now = Clock.monotonicNanoseconds
    while true {
      let flight = sndNxt - sndUna
      let window = min(sndWnd, cwnd)
      let unsent: UInt32 = sndNxt < sendEnd ? sendEnd - sndNxt : 0
      var length: UInt32 = 0
      if window > flight { length = min(unsent, min(window - flight, mss)) }
      // Sender-side silly window avoidance (RFC 9293 3.8.6.2.1): a short segment only when it is all there
      // is, or nothing is in flight.
      if length < mss && length < unsent && flight > 0 { length = 0 }
      let fin = finQueued && sndNxt + length == sendEnd
      if length == 0 && !fin { break }
      var flags = TCPFlags.ack
      if fin { flags |= TCPFlags.fin }
      if length > 0 && sndNxt + length == sendEnd { flags |= TCPFlags.psh }
      guard transmit(sequence: sndNxt, flags: flags, payload: Int(length)) else { return }
      if sndNxt < sndMax {
        stack.statistics.retransmissions &+= 1
      } else if timedSince == 0 && length > 0 {
        timedSequence = sndNxt
        timedSince = now
      }
      sndNxt += length + (fin ? 1 : 0)
      sndMax = TCPSequence.latest(sndMax, sndNxt)
      if deadline == .max || persisting {
        persisting = false
        setDeadline(now &+ rto.current)
      }
      if fin { break }
    }
    if ackPending { sendAcknowledgment() }
    // Zero window with data waiting and nothing in flight: probe it (RFC 9293 3.8.6.1).
    if sndWnd == 0 && sndNxt == sndUna && sndUna == sndMax && sndNxt < sendEnd && deadline == .max {
      persisting = true
      setDeadline(now &+ persistInterval)
    }
  }

  /// The zero-window probe interval: the RTO doubled for every unanswered probe, at most 60 s.
  var persistInterval: UInt64 {
    min(rto.current << UInt64(min(persistBackoff, 16)), TCPRetransmissionTimeout.maximum)
  }

  /// Sends the SYN (active open) or SYN-ACK (simultaneous open) with our MSS option.
  func sendSyn() {
    let now = Clock.monotonicNanoseconds
    let flags = state == .synReceived ? TCPFlags.syn | TCPFlags.ack : TCPFlags.syn
    var segment = outgoing(sequence: iss, flags: flags)
    segment.maximumSegmentSize = UInt16(TCPTransmitter.maximumSegmentSize)
    if state == .synSent { segment.acknowledgment = TCPSequence(0) }
    guard send(segment, payload: 0) else { return }
    if retransmissionCount == 0 {
      timedSequence = iss
      timedSince = now
    }
    sndNxt = iss + 1
    sndMax = TCPSequence.latest(sndMax, sndNxt)
    if deadline == .max { setDeadline(now &+ rto.current) }
  }

  /// Sends an ACK segment with no data (the ACK owed, a window update, a duplicate or challenge ACK).
  func sendAcknowledgment() {
    _ = transmit(sequence: sndNxt, flags: TCPFlags.ack, payload: 0)
  }

  /// Sends a RST from SND.NXT (the application aborted, or data came after it closed).
  func sendReset() {
    var segment = outgoing(sequence: sndNxt, flags: TCPFlags.rst | TCPFlags.ack)
    segment.window = 0
    if send(segment, payload: 0) { stack.statistics.resetsSent &+= 1 }
  }

  /// Sends the first unacknowledged segment again (fast retransmit, a partial ACK in recovery).
  func retransmitFirstSegment() {
    guard slab != nil else { return }
    let unsentData: UInt32 = sndUna < sendEnd ? sendEnd - sndUna : 0
    let length = min(unsentData, mss, sndMax - sndUna)
    let fin = finQueued && sndUna + length == sendEnd && sndMax > sendEnd
    guard length > 0 || fin else { return }
    var flags = TCPFlags.ack
    if fin { flags |= TCPFlags.fin }
    if timedSince != 0 && timedSequence.isIn(start: sndUna, count: length + 1) { timedSince = 0 }  // Karn
    if transmit(sequence: sndUna, flags: flags, payload: Int(length)) {
      stack.statistics.retransmissions &+= 1
    }
  }

  /// Sends one segment from `sequence` with `payload` bytes from the send buffer, the ACK of RCV.NXT and our
  /// window. False when the NIC was busy (the connection then waits for the stack's retry).
  private func transmit(sequence: TCPSequence, flags: UInt8, payload: Int) -> Bool {
    send(outgoing(sequence: sequence, flags: flags), payload: payload)
  }

  /// Sends `segment` with `payload` bytes of the send buffer from its sequence number. Any segment with an
  /// ACK settles the ACK owed.
  private func send(_ segment: TCPOutgoingSegment, payload: Int) -> Bool {
    if hopMAC == 0, let known = stack.network.hopMAC(for: remoteAddress) { hopMAC = known }
    let result = stack.transmitter.send(
      segment, to: remoteAddress, hopMAC: hopMAC, ring: payload > 0 ? sendRing : nil, payloadStart: segment.sequence,
      count: payload)
    if result == .busy {
      stack.statistics.sendsBusy &+= 1
      retryOutput = true
      stack.retryLater(self)
      return false
    }
    stack.statistics.segmentsSent &+= 1
    if segment.flags & TCPFlags.ack != 0 {
      ackPending = false
      unacknowledgedBytes = 0
    }
    return true
  }

  /// A segment from this connection with the ACK of RCV.NXT and the window we offer now.
  private func outgoing(sequence: TCPSequence, flags: UInt8) -> TCPOutgoingSegment {
    TCPOutgoingSegment(
      localPort: localPort, remotePort: remotePort, sequence: sequence, acknowledgment: rcvNxt, flags: flags,
      window: offeredWindow())
  }

  /// The window to advertise, never moving its right edge back, and moving it forward only by at least
  /// min(buffer / 2, MSS) (receiver-side silly window avoidance, RFC 9293 3.8.6.2.2).
  private func offeredWindow() -> UInt16 {
    let space = acceptanceWindow
    var window = min(space, 65535)
    let edge = rcvNxt + window
    if edge > rcvAdv && rcvAdv >= rcvNxt {
      let capacity = UInt32(truncatingIfNeeded: receiveRing.capacity)
      if edge - rcvAdv < min(capacity / 2, mss) { window = rcvAdv - rcvNxt }
    }
    rcvAdv = TCPSequence.latest(rcvAdv, rcvNxt + window)
    return UInt16(truncatingIfNeeded: window)
  }
}
