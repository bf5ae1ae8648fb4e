// TapUplink.swift: the switch's uplink to the host: a TAP device with a host-side IPv4 address, and a reader thread.
import CNetwork
import Foundation
import SystemCalls
import ThreadConfinement

/// A TAP interface (`IFF_TAP | IFF_NO_PI`) joining the virtual switch to the host's network stack. The
/// host side gets `address` (for example 10.0.0.1/16) and is brought up; frames the host sends on it are
/// read on a thread of the uplink's own and passed to the switch; frames the switch sends are written.
public final class TapUplink: NetworkUplink, @unchecked Sendable {
  /// The interface's name (as the kernel reports it).
  public let name: String
  /// The host's address and prefix on it.
  public let address: IPv4Subnet
  /// The host side's MAC address.
  public let hostMAC: MACAddress
  private let link: DescriptorUplink

  /// Creates (or attaches to) TAP interface `name`, sets its IPv4 `address`, turns IPv6 off on it (so the
  /// host sends no router or neighbour solicitations), and brings it up.
  public init(name: String, address: IPv4Subnet) throws(NetworkError) {
    guard !name.isEmpty, name.utf8.count <= 15, !name.contains("/"), !name.contains("\0") else {
      throw .invalidInterfaceName(name)
    }
    var actual = [CChar](repeating: 0, count: 32)
    let fd = cnet_tap_open(name, &actual, actual.count)
    guard fd >= 0 else {
      throw .system(SystemCallError(path: "/dev/net/tun", operation: "opening TAP device \(name)", errno: -fd))
    }
    let kernelName = String(decoding: actual.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    // Owns the descriptor from here on (closes it if anything below fails).
    let link = try DescriptorUplink(descriptor: fd, name: "denali-tap-\(kernelName)", nonBlocking: false)
    // IPv6 off first: the interface then never sends router solicitations or duplicate-address probes.
    try? "1".write(toFile: "/proc/sys/net/ipv6/conf/\(kernelName)/disable_ipv6", atomically: false, encoding: .utf8)
    var status = cnet_interface_set_ipv4(kernelName, address.address.value, address.netmask.value)
    if status == 0 { status = cnet_interface_up(kernelName) }
    var mac = [UInt8](repeating: 0, count: 6)
    if status == 0 { status = cnet_interface_mac(kernelName, &mac) }
    guard status == 0 else {
      throw .system(SystemCallError(path: kernelName, operation: "configuring it with \(address)", errno: -status))
    }
    self.name = kernelName
    self.address = address
    hostMAC = MACAddress(mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
    self.link = link
  }

  /// Writes one frame to the host side; false when the kernel refused it (for example its queue is full).
  public func transmit(_ frame: [UInt8]) -> Bool { link.transmit(frame) }

  /// Starts the reader thread, which passes every frame the host sends to `receive`.
  public func start(receive: @escaping @Sendable ([UInt8]) -> Void) throws(NetworkError) {
    try link.start(receive: receive)
  }

  /// Stops the reader thread and waits for it.
  public func stop() { link.stop() }
}
