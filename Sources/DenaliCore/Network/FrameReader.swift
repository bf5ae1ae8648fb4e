// FrameReader.swift: a thread that reads whole Ethernet frames from a descriptor (a TAP device, or a packet
// socket between processes) until told to stop, for an uplink.
import CNetwork
import Foundation
import SystemCalls
import ThreadConfinement

/// Reads frames from `descriptor` on a thread of its own (role `network`), one `read` per frame, and passes each
/// to a receive function; `stop()` wakes and ends it through an eventfd. Does not own `descriptor`.
final class FrameReader: @unchecked Sendable {
  private let descriptor: Int32
  private let wakeDescriptor: Int32
  private let threadName: String
  private let done = DispatchSemaphore(value: 0)
  private let state = Locked<(started: Bool, stopped: Bool)>((false, false))

  /// A reader of `descriptor` whose thread will be called `threadName`.
  init(descriptor: Int32, threadName: String) throws(NetworkError) {
    let wake = cnet_eventfd()
    guard wake >= 0 else { throw .system(SystemCallError(path: nil, operation: "eventfd", errno: -wake)) }
    self.descriptor = descriptor
    wakeDescriptor = wake
    self.threadName = threadName
  }

  deinit { close(wakeDescriptor) }

  /// Starts the thread (once), which passes every frame read to `receive`.
  func start(receive: @escaping @Sendable ([UInt8]) -> Void) {
    let first = state.withLock { state in
      defer { state.started = true }
      return !state.started
    }
    guard first else { return }
    let thread = Thread { [self] in
      ThreadConfinement.enter(.network)
      readFrames(into: receive)
      done.signal()
    }
    thread.name = threadName
    thread.stackSize = 1 << 20
    thread.start()
  }

  /// Stops the thread and waits for it (returns at once if it never started).
  func stop() {
    let wasRunning = state.withLock { state in
      defer { state.stopped = true }
      return state.started && !state.stopped
    }
    guard wasRunning else { return }
    var one: UInt64 = 1
    _ = Glibc.write(wakeDescriptor, &one, 8)
    done.wait()
  }

  /// Waits for frames, reads until the descriptor has none, repeats until woken to stop or the descriptor ends.
  private func readFrames(into receive: @Sendable ([UInt8]) -> Void) {
    // Room for more than a frame, so an oversized one is seen whole (and counted as malformed by the switch).
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while cnet_wait_readable(descriptor, wakeDescriptor) == 0 {
      while true {
        let count = buffer.withUnsafeMutableBytes { bytes in
          // SAFETY: `bytes` is the whole buffer; read writes at most bytes.count into it.
          Glibc.read(descriptor, bytes.baseAddress, bytes.count)
        }
        if count == 0 { return }  // the other end closed (a packet socket): nothing more will come
        guard count > 0 else { break }
        receive(Array(buffer[0..<count]))
      }
    }
  }
}
