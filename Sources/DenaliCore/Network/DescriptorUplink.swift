// DescriptorUplink.swift: an uplink over a descriptor that carries one Ethernet frame per read and write: a TAP
// device, or a packet socket between processes (a VM process's switch and the daemon's hub: a "trunk").
import Foundation
import SystemCalls

/// Frames written to and read from `descriptor`, one per system call; a reader thread passes those read to the
/// switch (or hub). Owns the descriptor.
public final class DescriptorUplink: NetworkUplink, @unchecked Sendable {
  private let descriptor: Int32
  private let reader: FrameReader

  /// An uplink over `descriptor`, read by a thread called `name`. With `nonBlocking` (a `SOCK_SEQPACKET` trunk)
  /// writes never block: a frame the socket cannot take now is refused (counted as an uplink error), so a slow
  /// peer cannot stall the writer. The descriptor is closed when this fails too.
  public init(descriptor: Int32, name: String, nonBlocking: Bool) throws(NetworkError) {
    do throws(NetworkError) {
      if nonBlocking {
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else {
          throw .system(SystemCallError(path: nil, operation: "making \(name) non-blocking", errno: errno))
        }
      }
      reader = try FrameReader(descriptor: descriptor, threadName: name)
    } catch {
      close(descriptor)
      throw error
    }
    self.descriptor = descriptor
  }

  deinit { close(descriptor) }

  /// Writes one frame; false when it could not be written whole now.
  public func transmit(_ frame: [UInt8]) -> Bool {
    frame.withUnsafeBytes { bytes in
      // SAFETY: `bytes` covers the whole frame for the duration of the call.
      Glibc.write(descriptor, bytes.baseAddress, bytes.count) == bytes.count
    }
  }

  /// Starts the reader thread, which passes every frame read to `receive`.
  public func start(receive: @escaping @Sendable ([UInt8]) -> Void) throws(NetworkError) {
    reader.start(receive: receive)
  }

  /// Stops the reader thread and waits for it.
  public func stop() { reader.stop() }
}
