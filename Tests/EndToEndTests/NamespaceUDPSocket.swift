// NamespaceUDPSocket.swift: a UDP socket that lives in a test's network namespace, made by a short-lived thread that
// joins the namespace (setns), so the test process itself can echo off VMs through the daemon's uplink there.
import Foundation
import Glibc

/// A UDP socket in a network namespace: an echo client (sends, waits for the same bytes back) or an echo server.
final class NamespaceUDPSocket: @unchecked Sendable {
  /// The descriptor (in the namespace it was created in, whichever namespace uses it later).
  let descriptor: Int32

  /// Why a socket could not be made or used.
  struct Failure: Error, CustomStringConvertible {
    /// What failed.
    let description: String
  }

  /// A UDP socket created inside namespace `name` (`/run/netns/NAME`), bound to `address`:`port` when given.
  init(namespace name: String, bindTo address: String? = nil, port: UInt16 = 0) throws {
    let result = ResultBox<Result<Int32, Failure>>(.failure(Failure(description: "not created")))
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
      defer { done.signal() }
      // setns changes only this thread's network namespace; the socket keeps it for its whole life.
      let namespace = open("/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
      guard namespace >= 0, joinNamespace(namespace, newNetworkNamespace) == 0 else {
        result.set(.failure(Failure(description: "joining namespace \(name): errno \(errno)")))
        if namespace >= 0 { close(namespace) }
        return
      }
      close(namespace)
      let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
      guard fd >= 0 else {
        result.set(.failure(Failure(description: "socket: errno \(errno)")))
        return
      }
      if let address {
        var local = Self.socketAddress(address, port: port)
        let bound = withUnsafePointer(to: &local) {
          // SAFETY: sockaddr_in begins with the sockaddr fields bind reads, for the size given.
          $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
          }
        }
        guard bound == 0 else {
          result.set(.failure(Failure(description: "bind \(address):\(port): errno \(errno)")))
          close(fd)
          return
        }
      }
      result.set(.success(fd))
    }
    thread.start()
    done.wait()
    descriptor = try result.get().get()
  }

  deinit { close(descriptor) }

  /// `address`:`port` as a sockaddr_in (address 0.0.0.0 when it does not parse).
  static func socketAddress(_ address: String, port: UInt16) -> sockaddr_in {
    var socketAddress = sockaddr_in()
    socketAddress.sin_family = sa_family_t(AF_INET)
    socketAddress.sin_port = port.bigEndian
    _ = inet_pton(AF_INET, address, &socketAddress.sin_addr)
    return socketAddress
  }

  /// Sends `payload` to `address`:`port` and waits for the same bytes to come back from there, resending every
  /// `interval` up to `tries` times. Returns the nanoseconds from the last send to the echo, and how many sends
  /// were made; nil when no echo came.
  func echo(_ payload: [UInt8], to address: String, port: UInt16 = 7, interval: Duration = .seconds(2), tries: Int = 5)
    -> (nanoseconds: UInt64, sends: Int)?
  {
    var peer = Self.socketAddress(address, port: port)
    var reply = [UInt8](repeating: 0, count: 2048)
    for attempt in 1...tries {
      let sentAt = ContinuousClock.now
      let sent = withUnsafePointer(to: &peer) {
        // SAFETY: as in init: a sockaddr_in read as the sockaddr of its size.
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          sendto(descriptor, payload, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
      guard sent == payload.count else { return nil }
      let deadline = sentAt + interval
      while ContinuousClock.now < deadline {
        guard let count = receive(into: &reply, until: deadline) else { break }
        if count == payload.count && reply.prefix(count).elementsEqual(payload) {
          let elapsed = (ContinuousClock.now - sentAt).components
          return (UInt64(elapsed.seconds) * 1_000_000_000 + UInt64(elapsed.attoseconds / 1_000_000_000), attempt)
        }
      }
    }
    return nil
  }

  /// Sends `payload` to `address`:`port` without waiting for anything.
  func send(_ payload: [UInt8], to address: String, port: UInt16 = 7) -> Bool {
    var peer = Self.socketAddress(address, port: port)
    return withUnsafePointer(to: &peer) {
      // SAFETY: as in init: a sockaddr_in read as the sockaddr of its size.
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        sendto(descriptor, payload, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    } == payload.count
  }

  /// Echoes every datagram back to its sender until `stop` says so (checked at least every 100 ms); returns how
  /// many it echoed.
  func serveEcho(until stop: () -> Bool) -> Int {
    var buffer = [UInt8](repeating: 0, count: 2048)
    var echoed = 0
    while !stop() {
      var sender = sockaddr_in()
      var length = socklen_t(MemoryLayout<sockaddr_in>.size)
      var pending = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
      guard poll(&pending, 1, 100) == 1 else { continue }
      let count = withUnsafeMutablePointer(to: &sender) {
        // SAFETY: recvfrom writes at most `length` bytes of address into the sockaddr_in.
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          recvfrom(descriptor, &buffer, buffer.count, 0, $0, &length)
        }
      }
      guard count > 0 else { continue }
      let sent = withUnsafePointer(to: &sender) {
        // SAFETY: the sockaddr_in recvfrom filled, read back for its size.
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(descriptor, buffer, count, 0, $0, length) }
      }
      if sent == count { echoed += 1 }
    }
    return echoed
  }

  /// Waits for one datagram until `deadline`; its length, or nil when none came.
  private func receive(into buffer: inout [UInt8], until deadline: ContinuousClock.Instant) -> Int? {
    let left = (deadline - ContinuousClock.now).components
    let milliseconds = Int32(
      max(1, min(Int64(Int32.max), left.seconds * 1000 + left.attoseconds / 1_000_000_000_000_000)))
    var pending = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
    guard poll(&pending, 1, milliseconds) == 1 else { return nil }
    let count = recv(descriptor, &buffer, buffer.count, 0)
    return count > 0 ? count : nil
  }
}

/// A value behind a lock, for the socket's creating thread to hand its result back.
final class ResultBox<Value>: @unchecked Sendable {
  private let lock = NSLock()
  private var value: Value

  /// A box holding `value`.
  init(_ value: Value) { self.value = value }

  /// Replaces the value.
  func set(_ newValue: Value) { lock.withLock { value = newValue } }

  /// The value now.
  func get() -> Value { lock.withLock { value } }
}

/// setns(2), which Glibc's module map leaves out (it is a _GNU_SOURCE declaration).
@_silgen_name("setns")
private func joinNamespace(_ descriptor: Int32, _ type: Int32) -> Int32

/// CLONE_NEWNET from <sched.h>: the namespace type setns joins.
private let newNetworkNamespace: Int32 = 0x4000_0000
