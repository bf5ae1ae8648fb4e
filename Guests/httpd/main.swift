// httpd [port=P] [count=N] [max-connections=C] [buffer=B] [half-open=H] [head=L] [idle-ms=T] [lazy-time-wait]
// [time-wait-quiet-ms=Q] [ballast=K] [quiet]: an HTTP/1.1
// server of the site image on its disk (`denalid disk pack`, attached with --disk FILE --disk-readonly), or without a disk of
// a built-in page at "/". GET and HEAD, keep-alive and pipelining, Content-Type from the image; everything else is
// refused with the parser's status. Prints `httpd: serving N files on IP port P` (or `httpd: serving the built-in
// page ...`); after N responses (forever without count) and once the last connection ends, `httpd: N connections,
// ...` and exits 0. C connections at once (default 16; more wait in the listen backlog), B bytes per TCP buffer
// (default 8192), H half-open and waiting handshakes (default 2C, at least 32), request heads of at most L bytes
// (default 4096, the parser's buffer per connection; 431 past it), connections idle for T ms reset (default 30000),
// a connection it closed stays in TIME-WAIT 1 s, or with lazy-time-wait without a timer until its slot is needed
// (after Q ms, default 1000, any new SYN from the same peer port reopens it, whatever its sequence number);
// ballast=K takes K KiB of heap at start and writes a word into each of its pages, so the VM holds that much more
// memory that is not zero (a memory-heavy server: every swap-in reads it). No NIC: exits 3; a disk that is not a
// site image: exits 4; bad options, or C connections (and the ballast) that would not fit in the heap: 2.
import Ilwaco

@main
struct Httpd: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let port = arguments.unsignedOption("port", default: 80), port > 0, port < 65536,
      let count = arguments.unsignedOption("count", default: 0),
      let maximum = arguments.unsignedOption("max-connections", default: 16), maximum >= 1, maximum <= 1024,
      let buffer = arguments.unsignedOption("buffer", default: 8192), buffer >= 1024, buffer <= 65536,
      let halfOpen = arguments.unsignedOption("half-open", default: max(32, min(2 * maximum, 4096))), halfOpen >= 1,
      halfOpen <= 4096,
      let headLimit = arguments.unsignedOption("head", default: 4096), headLimit >= 256, headLimit <= 65536,
      let idle = arguments.unsignedOption("idle-ms", default: 30_000), idle >= 1, idle <= 3_600_000,
      let ballast = arguments.unsignedOption("ballast", default: 0), ballast <= 1 << 20,
      let timeWaitQuiet = arguments.unsignedOption("time-wait-quiet-ms", default: 1000), timeWaitQuiet <= 3_600_000
    else { return usage() }
    let quiet = arguments.flag("quiet")
    var image: SiteImage? = nil
    do {
      image = try SiteImage()
    } catch {
      if case .noDisk = error {
      } else {
        Console.print("httpd: bad image: ")
        error.print()
        Console.print("\n")
        return 4
      }
    }
    guard let network = NetworkStack() else {
      Console.print("httpd: no network\n")
      return 3
    }
    var configuration = TCPConfiguration()
    configuration.maximumConnections = Int(maximum)
    configuration.maximumHalfOpen = Int(halfOpen)
    configuration.sendBufferSize = Int(buffer)
    configuration.receiveBufferSize = Int(buffer)
    // TIME-WAIT without a timer, ended only when its slot is needed: an idle server then sets no timer at all.
    if arguments.flag("lazy-time-wait") { configuration.timeWaitNanoseconds = .max }
    configuration.timeWaitQuietNanoseconds = timeWaitQuiet * 1_000_000
    let limits = HTTPParserLimits(requestLine: min(1024, Int(headLimit)), head: Int(headLimit))
    // Every connection's memory is taken on first use and kept: refuse a configuration whose worst case does not
    // fit in the heap, instead of failing an allocation (and the guest) under load.
    let ballastBytes = Int(ballast) * 1024
    let needed =
      HTTPServer.bytesPerConnection(configuration: configuration, limits: limits) * Int(maximum)
      + HTTPServer.fixedBytes(configuration: configuration) + ballastBytes
    guard needed <= heapFreeBytes else {
      Console.print("httpd: ")
      Console.print(maximum)
      Console.print(" connections of buffer=")
      Console.print(buffer)
      Console.print(" need ")
      Console.print(needed)
      Console.print(" bytes, the heap has ")
      Console.print(heapFreeBytes)
      Console.print(" (fewer connections, smaller buffers, less ballast or a larger --memory)\n")
      return 2
    }
    if ballastBytes > 0 { touchBallast(bytes: ballastBytes) }
    let loop = EventLoop()
    guard let tcp = TCPStack(network: network, loop: loop, configuration: configuration),
      let server = HTTPServer(
        tcp: tcp, loop: loop, port: UInt16(port), content: SiteContent(image: image), limits: limits,
        responseLimit: count, idleMilliseconds: idle)
    else { return usage() }
    if !quiet {
      if let image {
        Console.print("httpd: serving ")
        Console.print(image.fileCount)
        Console.print(" files on ")
      } else {
        Console.print("httpd: serving the built-in page on ")
      }
      Console.print(network.address)
      Console.print(" port ")
      Console.print(port)
      Console.print("\n")
    }
    network.attach(to: loop)
    loop.run()
    let statistics = server.statistics
    Console.print("httpd: ")
    Console.print(statistics.connections)
    Console.print(" connections, ")
    Console.print(statistics.ok)
    Console.print(" ok, ")
    Console.print(statistics.notFound)
    Console.print(" not found, ")
    Console.print(statistics.refused)
    Console.print(" refused, ")
    Console.print(statistics.failed)
    Console.print(" failed, ")
    Console.print(statistics.expired)
    Console.print(" expired; disk reads ")
    Console.print(image?.cache.reads ?? 0)
    Console.print("; heap free ")
    Console.print(heapFreeBytes)
    Console.print(", lowest ")
    Console.print(server.lowestHeapFree)
    Console.print("; TCP ")
    Console.print(tcp.statistics)
    Console.print("\n")
    return 0
  }

  /// Takes `bytes` of heap for good and writes one word into each of its 4 KiB pages (one store per page: the
  /// page is then not zero, so the host keeps and swaps it).
  static func touchBallast(bytes: Int) {
    let ballast = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    var offset = 0
    while offset < bytes {
      // SAFETY: offset + 8 <= bytes (bytes is a multiple of 1024, offset of 4096), inside the allocation.
      ballast.storeBytes(of: UInt64(offset) | 1, toByteOffset: offset, as: UInt64.self)
      offset += 4096
    }
  }

  static func usage() -> Int32 {
    Console.print(
      "usage: httpd [port=P] [count=N] [max-connections=C] [buffer=B] [half-open=H] [head=L] [idle-ms=T] [lazy-time-wait] [ballast=K] [quiet]\n"
    )
    return 2
  }
}
