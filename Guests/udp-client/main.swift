// udp-client peer=IP|+N|-N [port=P] [count=N] [size=B] [timeout-ms=T] [tries=R] [quiet]: sends N datagrams
// (default 10) of B bytes (8-1472, default 32) one at a time to the peer's UDP port P (default 7) and checks
// that each comes back unchanged, resending after T ms (default 1000) up to R tries (default 5). The peer
// is an address, or +N / -N: the address N above or below this VM's own (VMs get addresses in order of
// creation, so `peer=-1000` pairs each client with the VM created 1000 before it). Prints
// `udp-client: N/N echoes from IP port P in U us, R per second` and exits 0 when every echo came back,
// (a datagram with no echo for T to 2T ms is resent)
// 1 otherwise; malformed options: usage, exits 2; no NIC: exits 3.
import Ilwaco

@main
struct UDPClient: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let stack = NetworkStack() else {
      Console.print("udp-client: no network\n")
      return 3
    }
    guard let peerText = arguments.option("peer"),
      let peer = IPv4Address(parsingPeer: peerText, relativeTo: stack.address),
      let port = arguments.unsignedOption("port", default: 7), port > 0, port < 65536,
      let count = arguments.unsignedOption("count", default: 10),
      let size = arguments.unsignedOption("size", default: 32), size >= 8, size <= 1472,
      let timeoutMs = arguments.unsignedOption("timeout-ms", default: 1000), timeoutMs > 0,
      let tries = arguments.unsignedOption("tries", default: 5), tries > 0
    else {
      Console.print("usage: udp-client peer=IP|+N|-N [port=P] [count=N] [size=B] [timeout-ms=T] [tries=R]\n")
      return 2
    }
    let quiet = arguments.flag("quiet")
    let payload = UnsafeMutableRawPointer.allocate(byteCount: Int(size), alignment: 8)
    payload.initializeMemory(as: UInt8.self, repeating: 0x5A, count: Int(size))
    let loop = EventLoop()
    var sequence: UInt64 = 0
    var received: UInt64 = 0
    var attempts: UInt64 = 0
    var progress = false
    var failed = false
    let socket = stack.bind(port: 40000) { _ in }
    socket.checksumOnSend = true

    func sendCurrent() {
      payload.storeBytes(of: sequence, toByteOffset: 0, as: UInt64.self)
      attempts += 1
      var busy = 0
      while socket.send(to: peer, port: UInt16(port), payload: UnsafeRawBufferPointer(start: payload, count: Int(size)))
        == .busy && busy < 1000
      {
        yield()
        busy += 1
      }
    }

    // One repeating timer for the whole run (cheaper than a timer per datagram): a period with no echo
    // resends the current datagram, so a lost one is resent after one to two periods.
    loop.schedule(afterMilliseconds: timeoutMs, repeating: true) {
      if progress {
        progress = false
      } else if attempts >= tries {
        failed = true
        loop.stop()
      } else {
        sendCurrent()
      }
    }

    socket.handler = { datagram in
      guard datagram.source == peer, datagram.sourcePort == UInt16(port), datagram.payload.count == Int(size),
        let base = datagram.payload.baseAddress, memcmp(base, payload, Int(size)) == 0
      else { return }  // a late duplicate or a stranger: ignore
      progress = true
      received += 1
      sequence += 1
      attempts = 0
      if sequence >= count {
        loop.stop()
      } else {
        sendCurrent()
      }
    }
    stack.attach(to: loop)
    yield()  // refresh the clock
    let start = Clock.monotonicNanoseconds
    if count > 0 {
      sendCurrent()
      loop.run()
    }
    let elapsed = Clock.monotonicNanoseconds - start
    if !quiet || failed || received < count {
      Console.print("udp-client: ")
      Console.print(received)
      Console.print("/")
      Console.print(count)
      Console.print(" echoes from ")
      Console.print(peer)
      Console.print(" port ")
      Console.print(port)
      Console.print(" in ")
      Console.print(elapsed / 1000)
      Console.print(" us, ")
      Console.print(elapsed > 0 ? received * 1_000_000_000 / elapsed : 0)
      Console.print(" per second\n")
    }
    return !failed && received == count ? 0 : 1
  }
}
