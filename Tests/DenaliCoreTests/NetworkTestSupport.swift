// NetworkTestSupport.swift: frames, a fake uplink and waiting helpers shared by the network test suites.
import Foundation
import Synchronization
import Testing

@testable import DenaliCore

/// Builds test frames.
enum TestFrames {
  /// A minimal IPv4/UDP frame of `length` bytes (at least 42) from `source` to `destination`.
  static func udp(
    from sourceMAC: MACAddress, _ sourceIP: IPv4Address, to destinationMAC: MACAddress, _ destinationIP: IPv4Address,
    length: Int = 60, marker: UInt8 = 0
  ) -> [UInt8] {
    var bytes = [UInt8](repeating: marker, count: max(42, length))
    destinationMAC.store(into: &bytes, at: 0)
    sourceMAC.store(into: &bytes, at: 6)
    bytes[12] = 0x08
    bytes[13] = 0x00
    bytes[14] = 0x45
    let total = bytes.count - 14
    bytes[16] = UInt8(total >> 8)
    bytes[17] = UInt8(total & 0xFF)
    bytes[23] = 17
    sourceIP.store(into: &bytes, at: 26)
    destinationIP.store(into: &bytes, at: 30)
    return bytes
  }

  /// An ARP request from `mac`/`ip` asking for `target`, broadcast.
  static func arpRequest(from mac: MACAddress, _ ip: IPv4Address, asking target: IPv4Address) -> [UInt8] {
    ARPMessage(
      operation: ARPMessage.request, senderMAC: mac, senderIP: ip, targetMAC: MACAddress(value: 0), targetIP: target
    )
    .frame(to: .broadcast).bytes
  }
}

/// An uplink that records what the switch sends and lets a test inject frames from "the host".
final class FakeUplink: NetworkUplink, @unchecked Sendable {
  private let sent = Locked<[[UInt8]]>([])
  private let receiver = Locked<(@Sendable ([UInt8]) -> Void)?>(nil)

  /// Frames the switch wrote to the host.
  var transmitted: [[UInt8]] { sent.withLock { $0 } }

  func transmit(_ frame: [UInt8]) -> Bool {
    sent.withLock { $0.append(frame) }
    return true
  }

  func start(receive: @escaping @Sendable ([UInt8]) -> Void) throws(NetworkError) { receiver.withLock { $0 = receive } }

  func stop() {}

  /// Sends `frame` into the switch as if the host had written it.
  func inject(_ frame: [UInt8]) { receiver.withLock { $0 }?(frame) }
}

/// Polls `condition` every millisecond for up to two seconds; true when it held.
func eventually(_ condition: () -> Bool) -> Bool {
  let deadline = ContinuousClock.now + .seconds(2)
  while ContinuousClock.now < deadline {
    if condition() { return true }
    Thread.sleep(forTimeInterval: 0.001)
  }
  return condition()
}
