// udp-flood peer=IP|+N|-N [flood-port=P] [flood-size=B] [flood-count=N]: sends UDP datagrams of B bytes
// (default 1024) to the peer's port P (default 9) as fast as the NIC takes them, yielding only when the
// transmit queue is full; no UDP checksum. With flood-count it prints `udp-flood: sent N datagrams, M busy`
// after N datagrams and exits 0; without, it floods until stopped. The fairness test's hostile neighbour
// (its own option names, so it can share an argument list with udp-echo and udp-client). Malformed options:
// exits 2; no NIC: 3.
import Ilwaco

@main
struct UDPFlood: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let stack = NetworkStack() else {
      Console.print("udp-flood: no network\n")
      return 3
    }
    guard let peerText = arguments.option("peer"),
      let peer = IPv4Address(parsingPeer: peerText, relativeTo: stack.address),
      let port = arguments.unsignedOption("flood-port", default: 9), port > 0, port < 65536,
      let size = arguments.unsignedOption("flood-size", default: 1024), size <= 1472,
      let count = arguments.unsignedOption("flood-count", default: 0)
    else {
      Console.print("usage: udp-flood peer=IP|+N|-N [flood-port=P] [flood-size=B] [flood-count=N]\n")
      return 2
    }
    let payload = UnsafeMutableRawPointer.allocate(byteCount: max(Int(size), 1), alignment: 8)
    payload.initializeMemory(as: UInt8.self, repeating: 0xF1, count: max(Int(size), 1))
    let buffer = UnsafeRawBufferPointer(start: payload, count: Int(size))
    let socket = stack.bind(port: 40009) { _ in }
    socket.checksumOnSend = false
    var sent: UInt64 = 0
    var busy: UInt64 = 0
    while count == 0 || sent < count {
      switch socket.send(to: peer, port: UInt16(port), payload: buffer) {
      case .sent:
        sent += 1
      case .busy:
        busy += 1
        yield()
      case .resolving, .failed:
        yield()
        stack.poll()  // the ARP answer
      }
      if sent & 63 == 0 { stack.poll() }
    }
    Console.print("udp-flood: sent ")
    Console.print(sent)
    Console.print(" datagrams, ")
    Console.print(busy)
    Console.print(" busy\n")
    return 0
  }
}
