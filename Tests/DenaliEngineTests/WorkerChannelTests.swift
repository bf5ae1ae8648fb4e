// WorkerChannelTests.swift: a worker channel's frames, and that nothing is written through it after it is closed,
// even when its descriptor's number has been given to another socket (a VM process started again gets its
// channel as the old one closes).
import Foundation
import Glibc
import Testing

@testable import DenaliEngine

@Suite("Worker channel")
struct WorkerChannelTests {
  /// A connected stream socket pair.
  static func pair() throws -> (Int32, Int32) {
    var ends: [Int32] = [-1, -1]
    try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0)
    return (ends[0], ends[1])
  }

  @Test("a frame sent is the frame received; after close a send fails and writes nothing to the number's next owner")
  func sendAfterClose() throws {
    let (near, far) = try Self.pair()
    let channel = WorkerChannel(descriptor: near)
    let peer = WorkerChannel(descriptor: far)
    defer { peer.close() }
    try channel.send(.call(7, .health))
    guard case .call(7, .health)? = try peer.receive() else {
      Issue.record("the frame did not arrive whole")
      return
    }
    channel.close()
    // The lowest free number is the one just closed: the next socket takes it.
    let (reused, other) = try Self.pair()
    defer {
      Glibc.close(reused)
      Glibc.close(other)
    }
    #expect(throws: WorkerChannelError.self) { try channel.send(.call(9, .health)) }
    channel.shutDown()  // must not reach the new socket either
    // Other tests of this process open descriptors too: the number is checked only when this pair took it (as
    // it does but for a race with them).
    guard reused == near else { return }
    var byte: UInt8 = 0
    let flags = fcntl(other, F_GETFL)
    _ = fcntl(other, F_SETFL, flags | O_NONBLOCK)
    #expect(read(other, &byte, 1) == -1 && errno == EAGAIN, "nothing reached the socket that took the number")
    var probe: UInt8 = 1
    #expect(write(reused, &probe, 1) == 1, "the new socket was not shut down")
  }
}
