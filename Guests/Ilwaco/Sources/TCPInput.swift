// TCPInput.swift: a segment arriving on a connection (RFC 9293 section 3.10.7.3-3.10.7.4), with RFC 5961's
// checks on RST, SYN and ACK, NewReno's duplicate-ACK handling and the out-of-order queue.

extension TCPConnection {
  /// Processes `segment` for this connection, then delivers the events it caused.
  func input(_ segment: TCPSegment, now: UInt64) {
    switch state {
    case .synSent: inputSynSent(segment, now: now)
    case .timeWait: inputTimeWait(segment, now: now)
    case .closed: return
    default: inputSynchronized(segment, now: now)
    }
    deliverEvents()
  }

  // MARK: SYN-SENT

  private func inputSynSent(_ segment: TCPSegment, now: UInt64) {
    if segment.has(TCPFlags.ack) {
      // Our SYN must be what it acknowledges.
      guard segment.acknowledgment > iss, segment.acknowledgment <= sndMax else {
        if !segment.has(TCPFlags.rst) { stack.sendReset(for: segment, to: remoteAddress, hopMAC: hopMAC) }
        return
      }
    }
    if segment.has(TCPFlags.rst) {
      if segment.has(TCPFlags.ack) {
        stack.statistics.resetsReceived &+= 1
        terminate(.refused)
      }
      return
    }
    guard segment.has(TCPFlags.syn) else { return }
    irs = segment.sequence
    rcvNxt = irs + 1
    readPosition = rcvNxt
    rcvAdv = rcvNxt
    takePeerOptions(segment)
    if segment.has(TCPFlags.ack) {
      acceptSynAcknowledgment(segment, now: now)
      state = .established
      connectedEvent = true
      wantsWritable = false
      ackPending = true
      stack.queueOutput(self)
      acceptData(segment, now: now)
    } else {
      // Simultaneous open: send SYN-ACK from the same ISS.
      state = .synReceived
      sndNxt = iss
      stack.queueOutput(self)
    }
  }

  /// The peer's MSS and window from its SYN, and the congestion window that follows (RFC 5681 3.1, 10 segments
  /// as RFC 6928 allows).
  private func takePeerOptions(_ segment: TCPSegment) {
    let peer = segment.maximumSegmentSize == 0 ? 536 : UInt32(segment.maximumSegmentSize)
    mss = max(min(peer, UInt32(TCPTransmitter.maximumSegmentSize)), 64)
    cwnd = min(10 * mss, max(2 * mss, 14600))
    sndWnd = UInt32(segment.window)
    maxSndWnd = sndWnd
    sndWl1 = segment.sequence
    sndWl2 = segment.acknowledgment
  }

  /// Our SYN was acknowledged by `segment`: SND.UNA moves past it, and its round trip is a sample.
  private func acceptSynAcknowledgment(_ segment: TCPSegment, now: UInt64) {
    sndUna = segment.acknowledgment
    if sndNxt < sndUna { sndNxt = sndUna }
    if timedSince != 0 {
      rto.sample(now &- timedSince)
      timedSince = 0
    } else if retransmissionCount > 0 {
      rto.restartAfterSynTimeout()
    }
    retransmissionCount = 0
    sndWnd = UInt32(segment.window)
    maxSndWnd = max(maxSndWnd, sndWnd)
    sndWl1 = segment.sequence
    sndWl2 = segment.acknowledgment
    setDeadline(sndUna == sndMax ? .max : now &+ rto.current)
  }

  // MARK: TIME-WAIT

  private func inputTimeWait(_ segment: TCPSegment, now: UInt64) {
    // RFC 1337: a RST does not end TIME-WAIT. The only thing expected is the peer's FIN again (its ACK of ours
    // was lost): acknowledge it and wait the whole time again. Anything else gets an ACK too.
    if segment.has(TCPFlags.rst) { return }
    if segment.has(TCPFlags.fin) && segment.end == rcvNxt {
      timeWaitSince = now
      setDeadline(timeWaitDeadline(now: now))
    } else if segment.sequence == rcvNxt && segment.sequenceLength == 0 {
      return  // an acceptable bare ACK needs no answer
    }
    sendAcknowledgment()
  }

  // MARK: Synchronized states (and SYN-RECEIVED)

  private func inputSynchronized(_ segment: TCPSegment, now: UInt64) {
    let length = segment.sequenceLength
    let window = acceptanceWindow
    // 1. Is the segment in the window? (RFC 9293 3.10.7.4, first check.)
    if !isAcceptable(segment.sequence, length: length, window: window) {
      if segment.has(TCPFlags.rst) { return }
      // A zero window still takes ACKs (RFC 9293: "special allowance ... to accept valid ACKs").
      if window == 0 && segment.sequence == rcvNxt && segment.has(TCPFlags.ack) && !segment.has(TCPFlags.syn) {
        if !processAcknowledgment(segment, now: now) { return }
      }
      sendAcknowledgment()
      return
    }
    // 2. RST: only exactly at RCV.NXT; elsewhere in the window, a challenge ACK (RFC 5961 3.2).
    if segment.has(TCPFlags.rst) {
      if segment.sequence == rcvNxt {
        stack.statistics.resetsReceived &+= 1
        terminate(state == .synReceived ? .refused : .reset)
      } else {
        sendChallengeAck(now: now)
      }
      return
    }
    // 4. SYN in a synchronized state: a challenge ACK, never a reset (RFC 5961 4.2).
    if segment.has(TCPFlags.syn) {
      sendChallengeAck(now: now)
      return
    }
    // 5. ACK.
    guard segment.has(TCPFlags.ack) else { return }
    if state == .synReceived {
      guard segment.acknowledgment > sndUna, segment.acknowledgment <= sndMax else {
        stack.sendReset(for: segment, to: remoteAddress, hopMAC: hopMAC)
        return
      }
      acceptSynAcknowledgment(segment, now: now)
      state = finQueued ? .finWait1 : .established
      connectedEvent = true
    }
    guard processAcknowledgment(segment, now: now) else { return }
    switch state {
    case .closing:
      if finAcknowledged { enterTimeWait(now: now) }
      return
    case .lastAck:
      if finAcknowledged { terminate(.finished) }
      return
    default: break
    }
    // 7. Data.
    if segment.payloadLength > 0 {
      if appClosed && state.receivesData {
        // Data for an application that closed: nobody will read it (Linux resets here too).
        sendReset()
        terminate(nil)
        return
      }
      if state.receivesData { acceptData(segment, now: now) }
    }
    // 8. FIN.
    if segment.has(TCPFlags.fin) {
      acceptFin(at: segment.sequence + UInt32(truncatingIfNeeded: segment.payloadLength), now: now)
    }
  }

  /// How far beyond RCV.NXT the peer may send: the free space of the receive buffer (0 once it is released).
  var acceptanceWindow: UInt32 {
    guard slab != nil else { return 0 }
    let capacity = UInt32(truncatingIfNeeded: receiveRing.capacity)
    let used = dataEnd - readPosition
    return used >= capacity ? 0 : capacity - used
  }

  /// RFC 9293's acceptability test for a segment of `length` at `sequence`.
  private func isAcceptable(_ sequence: TCPSequence, length: UInt32, window: UInt32) -> Bool {
    if length == 0 {
      return window == 0 ? sequence == rcvNxt : sequence.isIn(start: rcvNxt, count: window)
    }
    guard window > 0 else { return false }
    return sequence.isIn(start: rcvNxt, count: window) || (sequence + (length - 1)).isIn(start: rcvNxt, count: window)
  }

  /// Whether our FIN was sent and acknowledged.
  var finAcknowledged: Bool { finQueued && sndUna == sendEnd + 1 }

  // MARK: ACK

  /// The ACK field and window of `segment` (RFC 9293 3.10.7.4 fifth check, RFC 5961 5.2). False when the
  /// segment must be dropped.
  private func processAcknowledgment(_ segment: TCPSegment, now: UInt64) -> Bool {
    let ack = segment.acknowledgment
    if ack > sndMax {
      sendAcknowledgment()  // acknowledges something never sent
      return false
    }
    if ack < sndUna - maxSndWnd {
      sendAcknowledgment()  // too old to be real (RFC 5961 5.2)
      return false
    }
    if ack > sndUna {
      acknowledge(upTo: ack, now: now)
    } else if ack == sndUna && segment.payloadLength == 0 && !segment.has(TCPFlags.fin)
      && UInt32(segment.window) == sndWnd && sndMax != sndUna
    {
      duplicateAcknowledgment(now: now)
    }
    // Window update (RFC 9293 3.10.7.4): only from a segment not older than the last one used.
    if sndWl1 < segment.sequence || (sndWl1 == segment.sequence && sndWl2 <= ack) {
      let opened = sndWnd == 0 && segment.window != 0
      if UInt32(segment.window) > sndWnd && sndNxt < sendEnd { stack.queueOutput(self) }  // room for waiting data
      sndWnd = UInt32(segment.window)
      maxSndWnd = max(maxSndWnd, sndWnd)
      sndWl1 = segment.sequence
      sndWl2 = ack
      if opened {
        if persisting {
          persisting = false
          persistBackoff = 0
          setDeadline(sndMax != sndUna ? now &+ rto.current : .max)
        }
        stack.queueOutput(self)
      }
    }
    if state == .finWait1 && finAcknowledged {
      state = .finWait2
      if appClosed { setDeadline(now &+ stack.configuration.finWait2Nanoseconds) }
    }
    return true
  }

  /// New data acknowledged: round-trip sample, buffer space, congestion window, retransmission timer.
  private func acknowledge(upTo ack: TCPSequence, now: UInt64) {
    let acked = ack - sndUna
    if timedSince != 0 && ack > timedSequence {
      rto.sample(now &- timedSince)
      timedSince = 0
    }
    sndUna = ack
    if sndNxt < sndUna { sndNxt = sndUna }
    retransmissionCount = 0
    if inFastRecovery {
      if ack >= recover {
        // Full acknowledgment: leave recovery with the reduced window (RFC 6582 3.2 step 3).
        inFastRecovery = false
        cwnd = min(ssthresh, max(sndMax - sndUna, mss) + mss)
        duplicateAcks = 0
      } else {
        // Partial acknowledgment: the next hole was lost too; send it now and deflate the window.
        retransmitFirstSegment()
        cwnd = cwnd > acked ? cwnd - acked + mss : mss
      }
    } else {
      duplicateAcks = 0
      if cwnd < ssthresh {
        cwnd &+= min(acked, mss)  // slow start, one MSS per ACK at most (RFC 5681 3.1)
      } else {
        cwnd &+= max(1, mss * mss / cwnd)  // congestion avoidance
      }
      cwnd = min(cwnd, 1 << 20)
    }
    if persisting && sndWnd > 0 {
      persisting = false
      persistBackoff = 0
    }
    setDeadline(sndUna == sndMax ? .max : now &+ rto.current)
    if wantsWritable { writableEvent = true }
    stack.queueOutput(self)
  }

  /// A duplicate ACK: the third starts fast retransmit and fast recovery (RFC 5681 3.2, RFC 6582).
  private func duplicateAcknowledgment(now: UInt64) {
    duplicateAcks += 1
    if inFastRecovery {
      cwnd &+= mss  // each duplicate means a segment left the network
      stack.queueOutput(self)
    } else if duplicateAcks == 3 && sndUna > recover {
      let flight = sndMax - sndUna
      ssthresh = max(flight / 2, 2 * mss)
      recover = sndMax
      inFastRecovery = true
      stack.statistics.fastRetransmissions &+= 1
      retransmitFirstSegment()
      cwnd = ssthresh + 3 * mss
      setDeadline(now &+ rto.current)
    }
  }

  // MARK: Data and FIN

  /// Takes the payload of `segment` (in the window) into the receive buffer, in order or ahead of a gap.
  func acceptData(_ segment: TCPSegment, now: UInt64) {
    guard segment.payloadLength > 0, slab != nil else { return }
    var start = segment.sequence
    var source = segment.payload
    var count = UInt32(truncatingIfNeeded: segment.payloadLength)
    if segment.has(TCPFlags.syn) { start += 1 }
    if start < rcvNxt {
      let skip = rcvNxt - start
      guard skip < count else {
        ackNow()
        return
      }
      start = rcvNxt
      source += Int(skip)
      count -= skip
    }
    // Never beyond the buffer's free space.
    let limit = readPosition + UInt32(truncatingIfNeeded: receiveRing.capacity)
    guard start < limit else {
      ackNow()
      return
    }
    count = min(count, limit - start)
    if start == rcvNxt {
      receiveRing.store(at: start, from: source, count: Int(count))
      rcvNxt = start + count
      readableEvent = true
      if !reassembly.isEmpty || pendingFin != nil {
        // The segment may fill a gap: take everything now contiguous (and a FIN that waited for it), and say
        // so at once (RFC 5681 4.2).
        rcvNxt = reassembly.advance(rcvNxt)
        if let fin = pendingFin, fin == rcvNxt { acceptFin(at: fin, now: now) }
        ackNow()
        return
      }
      unacknowledgedBytes &+= count
      ackPending = true
      if unacknowledgedBytes >= UInt32(truncatingIfNeeded: receiveRing.capacity / 2) {
        ackNow()
      } else {
        stack.queueOutput(self)
      }
    } else {
      // Ahead of a gap: keep it in place, remember the range, and send a duplicate ACK at once (RFC 5681 4.2).
      stack.statistics.outOfOrderSegments &+= 1
      if reassembly.insert(start: start, end: start + count) {
        receiveRing.store(at: start, from: source, count: Int(count))
      }
      ackNow()
    }
  }

  /// The peer's FIN at sequence number `fin` (after its last byte of data).
  private func acceptFin(at fin: TCPSequence, now: UInt64) {
    if finReceived {
      if fin + 1 == rcvNxt { ackNow() }  // sent again: our ACK was lost
      return
    }
    guard fin == rcvNxt else {
      if fin > rcvNxt { pendingFin = fin }  // ahead of missing data
      return
    }
    pendingFin = nil
    rcvNxt += 1
    finReceived = true
    readableEvent = true
    // Acknowledged at the end of the batch: with our own FIN when the application closes in its handler.
    ackPending = true
    stack.queueOutput(self)
    switch state {
    case .synReceived, .established: state = .closeWait
    case .finWait1:
      if finAcknowledged { enterTimeWait(now: now) } else { state = .closing }
    case .finWait2: enterTimeWait(now: now)
    default: break
    }
  }

  /// Sends an ACK now (out of order data, a filled gap, a FIN, an unacceptable segment).
  private func ackNow() {
    ackPending = true
    sendAcknowledgment()
  }

  /// A challenge ACK (RFC 5961), within the stack's rate limit.
  private func sendChallengeAck(now: UInt64) {
    guard stack.allowChallengeAck(now: now) else { return }
    stack.statistics.challengeAcks &+= 1
    sendAcknowledgment()
  }
}
