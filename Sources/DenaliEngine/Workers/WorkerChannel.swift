// WorkerChannel.swift: one end of the stream socket between the daemon and a VM worker process: frames as a
// 4-byte little-endian length and that many bytes of JSON, written whole under a lock, read by one thread.
import ControlAPI
import DenaliCore
import Foundation
import Glibc
import SystemCalls

/// A failure on a worker channel.
struct WorkerChannelError: Error, CustomStringConvertible {
  /// What failed.
  let description: String
}

/// One end of a worker channel. Any thread may send; one thread receives.
final class WorkerChannel: Sendable {
  /// The largest frame either end accepts: a create call carries up to two images of 64 MiB as base64, and a
  /// list of many VMs is long.
  static let maximumFrameBytes = 1 << 30

  /// The socket.
  let descriptor: Int32
  /// Held while one frame is written, so frames from several threads never interleave; `close()` takes it too,
  /// so no frame is ever written to the descriptor's number after it was closed (and perhaps given to another
  /// file: a VM process started again gets its channel the moment the old one closes).
  private let writing = Locked(())
  /// True once the descriptor is closed (taken inside `writing` by `close()`; alone by `shutDown()`).
  private let isClosed = Locked(false)

  /// A channel over connected stream socket `descriptor` (owned from now on: `close()` closes it).
  init(descriptor: Int32) { self.descriptor = descriptor }

  /// Writes `frame`; throws when the other end is gone or the frame cannot be encoded.
  func send(_ frame: WorkerFrame) throws(WorkerChannelError) {
    let body: Data
    do {
      body = try ControlJSON.encoder().encode(frame)
    } catch {
      throw WorkerChannelError(description: "a frame could not be encoded: \(error)")
    }
    guard body.count <= Self.maximumFrameBytes else {
      throw WorkerChannelError(description: "a frame of \(body.count) bytes is larger than the channel's limit")
    }
    let length = UInt32(body.count)
    var bytes = [UInt8](repeating: 0, count: 4)
    for index in 0..<4 { bytes[index] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index))) }
    bytes.append(contentsOf: body)
    let written = writing.withLock { _ -> Bool in
      if isClosed.withLock({ $0 }) {
        errno = EBADF
        return false
      }
      return Self.writeAll(descriptor, bytes)
    }
    guard written else {
      throw WorkerChannelError(description: "the channel is closed: \(SystemCallError.text(for: errno))")
    }
  }

  /// Reads the next frame; nil when the other end closed the channel between frames. Throws for a frame cut
  /// short, too large, or not a frame.
  func receive() throws(WorkerChannelError) -> WorkerFrame? {
    guard let header = try readExactly(4, endAllowed: true) else { return nil }
    let length = header.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    guard length <= Self.maximumFrameBytes else {
      throw WorkerChannelError(description: "a frame of \(length) bytes is larger than the channel's limit")
    }
    guard let body = try readExactly(length, endAllowed: false) else {
      throw WorkerChannelError(description: "the channel closed inside a frame")
    }
    do {
      return try ControlJSON.decoder().decode(WorkerFrame.self, from: Data(body))
    } catch {
      throw WorkerChannelError(description: "a frame could not be decoded: \(error)")
    }
  }

  /// Shuts both directions down: the other end reads the end of the channel, and a receive here returns nil.
  func shutDown() {
    isClosed.withLock { closed in
      if !closed { Glibc.shutdown(descriptor, Int32(SHUT_RDWR)) }
    }
  }

  /// Closes the descriptor (by the receiving thread, once it receives no more; a send after it fails).
  func close() {
    writing.withLock { _ in
      isClosed.withLock { closed in
        guard !closed else { return }
        Glibc.close(descriptor)
        closed = true
      }
    }
  }

  /// `count` bytes, or nil at the end of the stream before the first (only when `endAllowed`).
  private func readExactly(_ count: Int, endAllowed: Bool) throws(WorkerChannelError) -> [UInt8]? {
    var bytes = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
      // SAFETY: reads at most `count - done` bytes into the array's storage from index `done` on.
      let got = bytes.withUnsafeMutableBytes { buffer in
        read(descriptor, buffer.baseAddress.map { $0 + done }, count - done)
      }
      if got < 0 && errno == EINTR { continue }
      if got < 0 { throw WorkerChannelError(description: "reading the channel: \(SystemCallError.text(for: errno))") }
      if got == 0 {
        if done == 0 && endAllowed { return nil }
        throw WorkerChannelError(description: "the channel closed inside a frame")
      }
      done += got
    }
    return bytes
  }

  /// Writes all of `bytes` to `descriptor`, retrying EINTR; false when the write fails.
  private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
    var done = 0
    while done < bytes.count {
      // SAFETY: writes the array's bytes from index `done` to its end.
      let wrote = bytes.withUnsafeBytes { buffer in
        write(descriptor, buffer.baseAddress.map { $0 + done }, bytes.count - done)
      }
      if wrote < 0 && errno == EINTR { continue }
      guard wrote > 0 else { return false }
      done += wrote
    }
    return true
  }
}
