// TCPTimers.swift: a connection's timer expiring: retransmission timeout (RFC 6298 5.4-5.7, RFC 5681 3.1),
// zero-window probe, SYN retransmission, FIN-WAIT-2 and TIME-WAIT. Each connection has one deadline; the
// stack keeps one event-loop timer for the earliest of them.

extension TCPConnection {
  /// The deadline passed: act on it according to the state.
  func timerExpired(now: UInt64) {
    deadline = .max
    switch state {
    case .closed:
      return
    case .timeWait, .finWait2:
      terminate(nil)  // TIME-WAIT over, or a closed application's peer never sent its FIN
    case .synSent, .synReceived:
      retransmissionCount += 1
      guard retransmissionCount <= stack.configuration.maximumSynRetransmissions else {
        terminate(.timedOut)
        return
      }
      stack.statistics.timeouts &+= 1
      stack.statistics.retransmissions &+= 1
      timedSince = 0
      rto.backOff()
      sndNxt = iss
      setDeadline(now &+ rto.current)
      sendSyn()
    default:
      if persisting {
        probeWindow(now: now)
      } else if sndMax != sndUna {
        retransmissionTimeout(now: now)
      }
    }
    deliverEvents()
  }

  /// Nothing was acknowledged within the RTO: back off, shrink the congestion window to one segment and go
  /// back to the first unacknowledged byte; give up after the configured number of tries.
  private func retransmissionTimeout(now: UInt64) {
    retransmissionCount += 1
    guard retransmissionCount <= stack.configuration.maximumRetransmissions else {
      sendReset()
      terminate(.timedOut)
      return
    }
    stack.statistics.timeouts &+= 1
    if retransmissionCount > 1 { stack.statistics.repeatedTimeouts &+= 1 }
    let flight = sndMax - sndUna
    ssthresh = max(flight / 2, 2 * mss)
    cwnd = mss
    recover = sndMax
    inFastRecovery = false
    duplicateAcks = 0
    timedSince = 0
    sndNxt = sndUna
    rto.backOff()
    setDeadline(now &+ rto.current)
    output()
  }

  /// A zero-window probe: a segment one below SND.UNA with no data, which the peer must answer with an ACK
  /// carrying its window (what Linux sends too); the interval doubles while the window stays closed.
  private func probeWindow(now: UInt64) {
    stack.statistics.windowProbes &+= 1
    let saved = sndNxt
    sndNxt = sndUna - 1
    sendAcknowledgment()
    sndNxt = saved
    persistBackoff += 1
    setDeadline(now &+ persistInterval)
  }
}
