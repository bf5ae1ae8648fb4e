// udp-echo [port=P] [count=N] [linger-ms=L] [quiet]: sends every UDP datagram to port P (default 7) back to
// its sender. Prints `udp-echo: listening on IP port P` (not with quiet), runs until it has echoed N
// datagrams (forever without count) and then L ms more (default 0: a client's retransmission may have used
// up the count), prints `udp-echo: echoed N datagrams` and exits 0. A datagram from the same sender with the
// same first 8 bytes as the one before it (a client's resend: udp-client puts its sequence number there) is
// echoed but not counted again. Other arguments are ignored, so a
// udp-echo and a udp-client can share one argument list. No NIC: exits 3; malformed options: exits 2.
import Ilwaco

@main
struct UDPEcho: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let port = arguments.unsignedOption("port", default: 7), port > 0, port < 65536,
      let count = arguments.unsignedOption("count", default: 0),
      let linger = arguments.unsignedOption("linger-ms", default: 0)
    else {
      Console.print("usage: udp-echo [port=P] [count=N] [linger-ms=L]\n")
      return 2
    }
    guard let stack = NetworkStack() else {
      Console.print("udp-echo: no network\n")
      return 3
    }
    let quiet = arguments.flag("quiet")
    if !quiet {
      Console.print("udp-echo: listening on ")
      Console.print(stack.address)
      Console.print(" port ")
      Console.print(port)
      Console.print("\n")
    }
    let loop = EventLoop()
    var echoed: UInt64 = 0
    var last: (source: UInt32, port: UInt16, tag: UInt64)?
    let socket = stack.bind(port: UInt16(port)) { _ in }
    socket.handler = { datagram in
      var tries = 0
      while socket.send(to: datagram.source, port: datagram.sourcePort, payload: datagram.payload) == .busy,
        tries < 1000
      {
        yield()
        tries += 1
      }
      let tag = datagram.payload.count >= 8 ? datagram.payload.loadUnaligned(as: UInt64.self) : 0
      if let previous = last, previous.source == datagram.source.value, previous.port == datagram.sourcePort,
        previous.tag == tag
      {
        return  // a resend of the datagram just echoed
      }
      last = (datagram.source.value, datagram.sourcePort, tag)
      echoed += 1
      if count > 0 && echoed == count {
        if linger == 0 { loop.stop() } else { loop.schedule(afterMilliseconds: linger) { loop.stop() } }
      }
    }
    stack.attach(to: loop)
    if count == 0 || echoed < count { loop.run() }
    if !quiet {
      Console.print("udp-echo: echoed ")
      Console.print(echoed)
      Console.print(" datagrams\n")
    }
    return 0
  }
}
