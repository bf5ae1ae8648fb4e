// WebLoadGenerator.swift: the load of `denali-bench web`: a closed loop of C clients on the host side of the
// uplink, each on a thread of its own with blocking sockets, each request to a VM and a document drawn from Zipf
// distributions, HTTP/1.1 on a new connection per request (or kept alive), every response checked byte for byte.
import DenaliCore
import Foundation
import Synchronization

/// C closed-loop HTTP clients over a population of web-server VMs.
final class WebLoadGenerator: Sendable {
  /// What the load is.
  struct Settings: Sendable {
    /// The VMs' addresses, by popularity rank (rank 0 the most requested).
    let addresses: [String]
    /// The documents, by popularity rank.
    let site: WebSite
    /// Clients, each with one request outstanding.
    let clients: Int
    /// The Zipf exponent over VMs and over documents.
    let exponent: Double
    /// Keep connections open between requests to the same VM (each client keeps up to `pooledConnections`).
    let keepAlive: Bool
    /// A request that has not completed this long after it began is an error (a timeout).
    let timeout: Duration
    /// The seed the clients' generators start from (client i uses seed + i).
    let seed: UInt64
  }

  /// Most connections one client keeps open with `keepAlive` (the least recently used one is closed first).
  static let pooledConnections = 16

  /// One completed request.
  struct Sample: Sendable {
    /// Nanoseconds from its start (connect, or send on a kept connection) to the last byte of the response.
    let nanoseconds: UInt64
    /// CLOCK_MONOTONIC when it completed.
    let finishedAt: UInt64
    /// The VM's rank.
    let vm: Int
    /// Body bytes received.
    let bytes: Int
  }

  /// One failed request.
  struct Failure: Sendable {
    /// CLOCK_MONOTONIC when it failed.
    let at: UInt64
    /// What failed: `timeout`, `connect`, `reset`, `response`.
    let kind: String
    /// The details.
    let message: String
  }

  /// What a run produced.
  struct Outcome: Sendable {
    /// Every completed request.
    var samples: [Sample] = []
    /// Every failed request.
    var failures: [Failure] = []
    /// Kept connections found closed before a response began, and reopened (not errors: the server may close an
    /// idle connection).
    var reconnects = 0
  }

  private let settings: Settings
  private let vmSampler: ZipfSampler
  private let documentSampler: ZipfSampler
  private let addresses: [sockaddr_in]

  /// A generator for `settings`; throws for an address that is not IPv4.
  init(settings: Settings) throws {
    self.settings = settings
    vmSampler = ZipfSampler(count: settings.addresses.count, exponent: settings.exponent)
    documentSampler = ZipfSampler(count: settings.site.documents.count, exponent: settings.exponent)
    addresses = try settings.addresses.map { text in
      var address = sockaddr_in()
      address.sin_family = sa_family_t(AF_INET)
      address.sin_port = UInt16(80).bigEndian
      guard inet_pton(AF_INET, text, &address.sin_addr) == 1 else { throw BenchmarkError("bad address \(text)") }
      return address
    }
  }

  /// The model's chance that a request's VM is swapped out when `resident` VMs fit the budget (LRU, Che's
  /// approximation).
  func coldProbability(resident: Int) -> Double { vmSampler.missProbability(slots: resident) }

  /// Runs the clients until `stop` says so (it is asked before each request, with the number of requests begun
  /// so far by all clients); returns what they did.
  func run(until stop: @escaping @Sendable (_ begun: Int) -> Bool) -> Outcome {
    let begun = Atomic<Int>(0)
    let outcomes = Locked<[Outcome]>([])
    let group = DispatchGroup()
    for client in 0..<settings.clients {
      group.enter()
      let thread = Thread { [self] in
        var outcome = Outcome()
        var random = SplitMix64(seed: settings.seed &+ UInt64(client) &* 0x1_0000_0001)
        var pool = ConnectionPool(limit: settings.keepAlive ? Self.pooledConnections : 0)
        while !stop(begun.wrappingAdd(1, ordering: .relaxed).oldValue) {
          request(random: &random, pool: &pool, outcome: &outcome)
        }
        pool.closeAll()
        outcomes.withLock { $0.append(outcome) }
        group.leave()
      }
      thread.stackSize = 1 << 20
      thread.start()
    }
    group.wait()
    return outcomes.withLock { all in
      var merged = Outcome()
      for outcome in all {
        merged.samples += outcome.samples
        merged.failures += outcome.failures
        merged.reconnects += outcome.reconnects
      }
      merged.samples.sort { $0.finishedAt < $1.finishedAt }
      return merged
    }
  }

  /// A client's open connections by VM rank, least recently used first.
  private struct ConnectionPool {
    let limit: Int
    var open: [(vm: Int, fd: Int32)] = []

    /// Takes the connection to `vm` out of the pool, if there is one.
    mutating func take(_ vm: Int) -> Int32? {
      guard let index = open.firstIndex(where: { $0.vm == vm }) else { return nil }
      return open.remove(at: index).fd
    }

    /// Puts a connection back (closing the least recently used one past the limit, or this one with no pool).
    mutating func put(_ vm: Int, _ fd: Int32) {
      guard limit > 0 else {
        _ = close(fd)
        return
      }
      open.append((vm, fd))
      if open.count > limit { close(open.removeFirst().fd) }
    }

    /// Closes every connection.
    mutating func closeAll() {
      for entry in open { close(entry.fd) }
      open = []
    }
  }

  /// Why one attempt failed: with `beforeResponse`, nothing of the response had arrived on a reused connection.
  private struct AttemptError: Error {
    let kind: String
    let message: String
    var beforeResponse = false
  }

  /// One request: draws its VM and document, sends it and checks the response; records a sample or a failure.
  private func request(random: inout SplitMix64, pool: inout ConnectionPool, outcome: inout Outcome) {
    let vm = vmSampler.rank(for: random.unit())
    let document = settings.site.documents[documentSampler.rank(for: random.unit())]
    let start = monotonicNanoseconds()
    let deadline = start + nanoseconds(settings.timeout)
    var reused = pool.take(vm)
    while true {
      let fd: Int32
      do {
        fd = try reused ?? connect(vm, deadline: deadline)
      } catch {
        let failure = error as? AttemptError ?? AttemptError(kind: "connect", message: "\(error)")
        outcome.failures.append(Failure(at: monotonicNanoseconds(), kind: failure.kind, message: failure.message))
        return
      }
      do {
        let keep = try exchange(fd, document: document, deadline: deadline, reused: reused != nil)
        let end = monotonicNanoseconds()
        outcome.samples.append(Sample(nanoseconds: end - start, finishedAt: end, vm: vm, bytes: document.body.count))
        if keep { pool.put(vm, fd) } else { close(fd) }
        return
      } catch {
        close(fd)
        if error.beforeResponse && reused != nil {
          // A kept connection the server had closed: open a new one (once).
          outcome.reconnects += 1
          reused = nil
          continue
        }
        outcome.failures.append(
          Failure(
            at: monotonicNanoseconds(), kind: error.kind,
            message: "\(settings.addresses[vm])\(document.path): \(error.message)"))
        return
      }
    }
  }

  /// A new connection to the VM of rank `vm`, which must complete by `deadline`.
  private func connect(_ vm: Int, deadline: UInt64) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw AttemptError(kind: "connect", message: "socket: errno \(errno)") }
    var one: Int32 = 1
    _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    setTimeout(fd, until: deadline)
    var address = addresses[vm]
    let connected = withUnsafePointer(to: &address) {
      // SAFETY: sockaddr_in is layout-compatible with the sockaddr prefix connect reads, for its stated size.
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else {
      let error = errno
      close(fd)
      let timedOut = error == EINPROGRESS || error == EAGAIN || error == ETIMEDOUT
      throw AttemptError(
        kind: timedOut ? "timeout" : "connect",
        message: "connect to \(settings.addresses[vm]): \(timedOut ? "timed out" : "errno \(error)")")
    }
    return fd
  }

  /// Sets `fd`'s send and receive timeouts to what is left until `deadline` (at least 1 ms).
  private func setTimeout(_ fd: Int32, until deadline: UInt64) {
    let now = monotonicNanoseconds()
    let left = max(deadline > now ? deadline - now : 0, 1_000_000)
    var timeout = timeval(tv_sec: Int(left / 1_000_000_000), tv_usec: Int(left % 1_000_000_000 / 1000))
    _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  }

  /// Sends a GET for `document` on `fd` and reads and checks its response: a 200 whose body is the document's
  /// bytes. Returns whether the connection may be kept (keep-alive asked for and the server did not close).
  private func exchange(_ fd: Int32, document: WebSite.Document, deadline: UInt64, reused: Bool) throws(AttemptError)
    -> Bool
  {
    let request = Array(
      ("GET \(document.path) HTTP/1.1\r\nHost: web\r\nUser-Agent: denali-bench\r\n"
        + (settings.keepAlive ? "" : "Connection: close\r\n") + "\r\n").utf8)
    if reused { setTimeout(fd, until: deadline) }
    var offset = 0
    while offset < request.count {
      let sent = request.withUnsafeBytes { buffer in
        // SAFETY: offset < buffer.count; at most the remaining bytes are read.
        Glibc.send(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset, Int32(MSG_NOSIGNAL))
      }
      guard sent > 0 else { throw failure("send", errno: errno, received: 0) }
      offset += sent
    }
    var held: [UInt8] = []
    held.reserveCapacity(document.body.count + 512)
    var bodyStart: Int?
    var expected = Int.max
    var closeAfter = !settings.keepAlive
    var chunk = [UInt8](repeating: 0, count: 65536)
    while held.count < expected {
      if monotonicNanoseconds() > deadline { throw AttemptError(kind: "timeout", message: "no whole response in time") }
      let received = chunk.withUnsafeMutableBytes { buffer in
        // SAFETY: recv writes at most buffer.count bytes into the buffer.
        recv(fd, buffer.baseAddress, buffer.count, 0)
      }
      if received == 0 {
        throw AttemptError(
          kind: "reset", message: "closed after \(held.count) bytes of the response", beforeResponse: held.isEmpty)
      }
      guard received > 0 else { throw failure("recv", errno: errno, received: held.count) }
      held.append(contentsOf: chunk[0..<received])
      if bodyStart == nil, let end = Self.headEnd(held) {
        let head = String(decoding: held[0..<end], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        guard lines.first?.hasPrefix("HTTP/1.1 200 ") == true else {
          throw AttemptError(kind: "response", message: "status line \(lines.first.map(String.init) ?? "?")")
        }
        guard let field = lines.first(where: { $0.lowercased().hasPrefix("content-length:") }),
          let length = Int(field.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)),
          length == document.body.count
        else { throw AttemptError(kind: "response", message: "no Content-Length of \(document.body.count) in \(head)") }
        if lines.contains(where: { $0.lowercased() == "connection: close" }) { closeAfter = true }
        bodyStart = end + 4
        expected = end + 4 + length
      }
      guard held.count <= expected else {
        throw AttemptError(kind: "response", message: "\(held.count - expected) bytes past the response")
      }
    }
    guard let bodyStart, held[bodyStart...].elementsEqual(document.body) else {
      throw AttemptError(kind: "response", message: "the body differs from the document")
    }
    return !closeAfter
  }

  /// A failed send or receive: a timeout, or a reset (before the response when nothing of it had arrived).
  private func failure(_ call: String, errno code: Int32, received: Int) -> AttemptError {
    if code == EAGAIN || code == EWOULDBLOCK {
      return AttemptError(kind: "timeout", message: "\(call) timed out after \(received) bytes")
    }
    return AttemptError(
      kind: "reset", message: "\(call): errno \(code) after \(received) bytes", beforeResponse: received == 0)
  }

  /// The offset of the blank line ending the head in `bytes`, or nil.
  private static func headEnd(_ bytes: [UInt8]) -> Int? {
    guard bytes.count >= 4 else { return nil }
    for index in 0...(bytes.count - 4)
    where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
      return index
    }
    return nil
  }
}
