// tcp-bulk [role=server|client] [mode=sink|send] [peer=IP|+N|-N] [port=P] [bytes=N] [buffer=B] [tries=T]
// [pause-at=A pause-ms=M] [verify] [quiet]:
// one bulk TCP transfer, for throughput and for checking streams end to end. The server (default) listens on port
// P (default 5001) and takes one connection; the client connects to peer:P (T tries 200 ms apart while the peer
// refuses, default 1). `send` writes N bytes (default
// 1 MiB) of the pattern, shuts its side down and waits for the peer to close; `sink` (default) reads until the
// peer closes and, with `verify`, checks every byte against the pattern (and that N bytes came, if N is given).
// The pattern: the byte at stream offset i is byte i mod 65528 of a table whose 64-bit word k (little-endian)
// is k * 0x9E3779B97F4A7C15 (scripts/tcp-peer.py makes the same). Prints `tcp-bulk: sent|received N bytes in
// U us, R KiB/s` (`, pattern ok` with verify) and the TCP counters (`tcp-bulk: segments in ...`), and exits 0;
// a wrong byte, a short count or a reset: exits 1.
// B bytes per socket buffer (default 16384). A sink given pause-at and pause-ms stops reading for M ms once it has
// A bytes (its window closes; the sender must probe it). No NIC: exits 3; bad options: 2.
import Ilwaco

/// The repeating byte pattern both ends of a transfer agree on.
struct BulkPattern {
  /// Bytes before the pattern repeats: not a power of two, so a misplaced ring-sized block shows.
  static let period = 65528
  let table: UnsafeMutableRawPointer

  init() {
    table = .allocate(byteCount: Self.period, alignment: 8)
    var word: UInt64 = 0
    // SAFETY: period / 8 words fill the table exactly.
    for index in 0..<(Self.period / 8) {
      table.storeBytes(of: word, toByteOffset: index * 8, as: UInt64.self)
      word &+= 0x9E37_79B9_7F4A_7C15
    }
  }

  /// The pattern's bytes from stream offset `offset`, at most `limit` of them (never past the period's end).
  func bytes(at offset: UInt64, limit: UInt64) -> UnsafeRawBufferPointer {
    let start = Int(offset % UInt64(Self.period))
    // SAFETY: start < period and the count is at most period - start.
    return UnsafeRawBufferPointer(start: table + start, count: Int(min(limit, UInt64(Self.period - start))))
  }

  /// Whether `data` is the pattern from stream offset `offset`.
  func matches(_ data: UnsafeRawBufferPointer, at offset: UInt64) -> Bool {
    var checked = 0
    while checked < data.count {
      let expected = bytes(at: offset + UInt64(checked), limit: UInt64(data.count - checked))
      // SAFETY: both ranges hold expected.count bytes.
      guard let base = data.baseAddress, memcmp(base + checked, expected.baseAddress, expected.count) == 0 else {
        return false
      }
      checked += expected.count
    }
    return true
  }
}

@main
struct TCPBulk: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let network = NetworkStack() else {
      Console.print("tcp-bulk: no network\n")
      return 3
    }
    let role = arguments.option("role") ?? "server"
    let mode = arguments.option("mode") ?? "sink"
    let peerText = arguments.option("peer")
    let peer = peerText.flatMap { IPv4Address(parsingPeer: $0, relativeTo: network.address) }
    guard role == "server" || (role == "client" && peer != nil), mode == "sink" || mode == "send",
      peerText == nil || peer != nil,
      let port = arguments.unsignedOption("port", default: 5001), port > 0, port < 65536,
      let bytes = arguments.unsignedOption("bytes", default: 1 << 20),
      let buffer = arguments.unsignedOption("buffer", default: 16384),
      let tries = arguments.unsignedOption("tries", default: 1), tries >= 1,
      let pauseAt = arguments.unsignedOption("pause-at", default: 0),
      let pauseMilliseconds = arguments.unsignedOption("pause-ms", default: 0)
    else { return usage() }
    let sending = mode == "send"
    let verify = arguments.flag("verify")
    let expectCount = arguments.option("bytes") != nil
    let quiet = arguments.flag("quiet")
    var configuration = TCPConfiguration()
    configuration.sendBufferSize = Int(buffer)
    configuration.receiveBufferSize = Int(buffer)
    configuration.maximumConnections = 2
    let loop = EventLoop()
    guard let tcp = TCPStack(network: network, loop: loop, configuration: configuration) else { return usage() }
    let pattern = BulkPattern()
    var transferred: UInt64 = 0
    var start: UInt64 = 0
    var end: UInt64 = 0
    var mismatch = false
    var outcome: TCPCloseReason?
    var active: TCPConnection?
    var attempts: UInt64 = 0
    var paused = false
    var pauseDone = pauseMilliseconds == 0
    var connect: () -> Void = {}

    func finish(_ reason: TCPCloseReason) {
      guard outcome == nil else { return }
      outcome = reason
      if end == 0 { end = Clock.monotonicNanoseconds }
      loop.stop()
    }

    func pump(_ connection: TCPConnection) {
      if sending {
        while transferred < bytes {
          let piece = pattern.bytes(at: transferred, limit: bytes - transferred)
          let written = connection.write(piece)
          transferred += UInt64(written)
          if written < piece.count { break }
        }
        if transferred == bytes { connection.shutdown() }
        connection.consume(connection.readableBytes)  // a sender ignores what it is sent
      } else {
        while !paused {
          if !pauseDone && transferred >= pauseAt {
            // Stop reading for a while: the receive buffer fills and our window closes.
            pauseDone = true
            paused = true
            loop.schedule(afterMilliseconds: pauseMilliseconds) {
              paused = false
              pump(connection)
            }
            break
          }
          let data = connection.peek()
          guard data.count > 0 else { break }
          if verify && !mismatch && !pattern.matches(data, at: transferred) {
            mismatch = true
            Console.print("tcp-bulk: pattern MISMATCH in the ")
            Console.print(data.count)
            Console.print(" bytes at offset ")
            Console.print(transferred)
            Console.print("\n")
          }
          transferred += UInt64(data.count)
          connection.consume(data.count)
        }
      }
      if connection.isReadClosed && end == 0 {
        // The peer is done: the transfer took until now. Close our side too and stay until the connection has
        // finished (our FIN acknowledged), so a lost FIN is sent again before the VM exits.
        end = Clock.monotonicNanoseconds
        connection.shutdown()
      }
    }

    let handler: (TCPConnection, TCPEvent) -> Void = { connection, event in
      switch event {
      case .closed(.refused) where role == "client" && attempts < tries:
        loop.schedule(afterMilliseconds: 200) { connect() }
      case .closed(let reason): finish(reason)
      case .connected:
        start = Clock.monotonicNanoseconds
        pump(connection)
      default: pump(connection)
      }
    }
    if role == "server" {
      guard
        tcp.listen(
          port: UInt16(port),
          { connection in
            guard active == nil else { return connection.abort() }  // one transfer per run
            active = connection
            start = Clock.monotonicNanoseconds
            connection.handler = handler
            pump(connection)
          }) != nil
      else { return usage() }
      if !quiet {
        Console.print("tcp-bulk: listening on ")
        Console.print(network.address)
        Console.print(" port ")
        Console.print(port)
        Console.print("\n")
      }
    } else if let peer {
      connect = {
        attempts += 1
        active = tcp.connect(to: peer, port: UInt16(port), handler)
        if active == nil { finish(.refused) }
      }
      connect()
    }
    network.attach(to: loop)
    loop.run()
    let elapsed = max(end &- start, 1)
    Console.print(sending ? "tcp-bulk: sent " : "tcp-bulk: received ")
    Console.print(transferred)
    Console.print(" bytes in ")
    Console.print(elapsed / 1000)
    Console.print(" us, ")
    Console.print(transferred * 1_000_000_000 / elapsed / 1024)
    Console.print(" KiB/s")
    if verify { Console.print(mismatch ? ", pattern WRONG" : ", pattern ok") }
    let complete = !sending && expectCount ? transferred == bytes : (!sending || transferred == bytes)
    if outcome != .finished || !complete {
      Console.print(", INCOMPLETE (")
      Console.print(
        outcome == .reset ? "reset" : outcome == .timedOut ? "timed out" : outcome == .refused ? "refused" : "ended")
      Console.print(")")
    }
    Console.print("\n")
    Console.print("tcp-bulk: ")
    Console.print(tcp.statistics)
    Console.print("\n")
    return outcome == .finished && complete && !mismatch ? 0 : 1
  }

  static func usage() -> Int32 {
    Console.print(
      "usage: tcp-bulk [role=server|client] [mode=sink|send] [peer=IP|+N|-N] [port=P] [bytes=N] [buffer=B] [verify] [quiet]\n"
    )
    return 2
  }
}
