// tcp-echo [port=P] [count=N] [max-connections=C] [buffer=B] [half-open=H] [time-wait-ms=T] [stats-ms=S] [quiet]:
// a TCP echo server on port P (default 7): every byte a client sends comes back; once the client closes its side,
// the server closes too (after echoing everything). Prints `tcp-echo: listening on IP port P, heap free H`
// (not with quiet), then, after N connections have ended (forever without count) and every connection has
// finished sending (at most 5 s more), `tcp-echo: served N
// connections, B bytes` and the TCP counters, and exits 0. With stats-ms, prints the counters and the heap every
// S ms (`tcp-echo: stats ...`). C connections at once (default 16), B bytes per buffer (default 8192, a power of
// two), H half-open connections (default 32), TIME-WAIT of T ms (default 1000). No NIC: exits 3; bad options: 2.
import Ilwaco

@main
struct TCPEcho: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let port = arguments.unsignedOption("port", default: 7), port > 0, port < 65536,
      let count = arguments.unsignedOption("count", default: 0),
      let maximum = arguments.unsignedOption("max-connections", default: 16), maximum >= 1, maximum <= 4096,
      let buffer = arguments.unsignedOption("buffer", default: 8192), buffer <= 65536,
      let halfOpen = arguments.unsignedOption("half-open", default: 32), halfOpen >= 1, halfOpen <= 4096,
      let timeWait = arguments.unsignedOption("time-wait-ms", default: 1000), timeWait <= 3_600_000,
      let statsInterval = arguments.unsignedOption("stats-ms", default: 0)
    else { return usage() }
    guard let network = NetworkStack() else {
      Console.print("tcp-echo: no network\n")
      return 3
    }
    var configuration = TCPConfiguration()
    configuration.maximumConnections = Int(maximum)
    configuration.sendBufferSize = Int(buffer)
    configuration.receiveBufferSize = Int(buffer)
    configuration.maximumHalfOpen = Int(halfOpen)
    configuration.timeWaitNanoseconds = timeWait * 1_000_000
    let loop = EventLoop()
    guard let tcp = TCPStack(network: network, loop: loop, configuration: configuration) else { return usage() }
    let quiet = arguments.flag("quiet")
    var served: UInt64 = 0
    var bytes: UInt64 = 0
    var lowestHeap = heapFreeBytes
    var finishing = false
    let listener = tcp.listen(port: UInt16(port)) { connection in
      connection.handler = { connection, event in
        if case .closed = event {
          served += 1
        } else {
          bytes += echo(connection)
          if connection.isReadClosed {
            connection.close()
            served += 1
          }
        }
        lowestHeap = min(lowestHeap, heapFreeBytes)
        if count > 0 && served >= count && !finishing {
          // Stay until every connection has finished sending (its FIN acknowledged), at most 5 s.
          finishing = true
          let deadline = Clock.monotonicNanoseconds &+ 5_000_000_000
          loop.schedule(afterMilliseconds: 10, repeating: true) {
            if tcp.buffersInUse == 0 || Clock.monotonicNanoseconds >= deadline { loop.stop() }
          }
        }
      }
    }
    guard listener != nil else { return usage() }
    if !quiet {
      Console.print("tcp-echo: listening on ")
      Console.print(network.address)
      Console.print(" port ")
      Console.print(port)
      Console.print(", heap free ")
      Console.print(heapFreeBytes)
      Console.print("\n")
    }
    if statsInterval > 0 {
      loop.schedule(afterMilliseconds: statsInterval, repeating: true) {
        lowestHeap = min(lowestHeap, heapFreeBytes)
        Console.print("tcp-echo: stats ")
        report(tcp, served: served, bytes: bytes, lowestHeap: lowestHeap)
      }
    }
    network.attach(to: loop)
    loop.run()
    Console.print("tcp-echo: served ")
    report(tcp, served: served, bytes: bytes, lowestHeap: lowestHeap)
    return 0
  }

  /// Echoes what can be echoed now: readable bytes into the send buffer. Returns how many.
  static func echo(_ connection: TCPConnection) -> UInt64 {
    var total: UInt64 = 0
    while true {
      let bytes = connection.peek()
      guard bytes.count > 0 else { break }
      let taken = connection.write(bytes)
      connection.consume(taken)
      total += UInt64(taken)
      if taken < bytes.count { break }  // the send buffer is full: `.writable` comes later
    }
    return total
  }

  static func report(_ tcp: TCPStack, served: UInt64, bytes: UInt64, lowestHeap: Int) {
    Console.print(served)
    Console.print(" connections, ")
    Console.print(bytes)
    Console.print(" bytes; open ")
    Console.print(tcp.connectionCount)
    Console.print(", half-open ")
    Console.print(tcp.halfOpenCount)
    Console.print(", buffers ")
    Console.print(tcp.buffersInUse)
    Console.print("; heap free ")
    Console.print(heapFreeBytes)
    Console.print(", lowest ")
    Console.print(lowestHeap)
    Console.print("; ")
    Console.print(tcp.statistics)
    Console.print("\n")
  }

  static func usage() -> Int32 {
    Console.print(
      "usage: tcp-echo [port=P] [count=N] [max-connections=C] [buffer=B] [half-open=H] [time-wait-ms=T] [stats-ms=S] [quiet]\n"
    )
    return 2
  }
}
