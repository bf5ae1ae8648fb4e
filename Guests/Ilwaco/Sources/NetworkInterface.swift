// NetworkInterface.swift: the virtual NIC itself: its configuration from the virtual registers, and the two
// hypercalls, send a frame and receive a frame.

/// The VM's NIC. Frames are whole Ethernet frames without the FCS, `minimumFrame` to `maximumFrame` bytes.
public enum NetworkInterface {
  /// Largest frame (`DENALI_NET_FRAME_MAX`): a 14-byte header and 1500 bytes of payload.
  public static let maximumFrame = Int(DENALI_NET_FRAME_MAX)
  /// Smallest frame the switch takes (`DENALI_NET_FRAME_MIN`).
  public static let minimumFrame = Int(DENALI_NET_FRAME_MIN)

  /// Whether the host gave this VM a NIC.
  public static var isPresent: Bool { ilwaco_vregs_net_flags() & DENALI_NET_PRESENT != 0 }
  /// The NIC's MAC address: its six bytes in memory order, loaded little-endian (byte 0 in bits 0-7).
  public static var mac: UInt64 { ilwaco_vregs_mac() }
  /// This VM's IPv4 address.
  public static var address: IPv4Address { IPv4Address(value: ilwaco_vregs_ipv4_address()) }
  /// The subnet mask.
  public static var netmask: IPv4Address { IPv4Address(value: ilwaco_vregs_ipv4_netmask()) }
  /// The default gateway (zero: none).
  public static var gateway: IPv4Address { IPv4Address(value: ilwaco_vregs_ipv4_gateway()) }

  /// Sends the frame of `length` bytes at `frame`. Returns `length`, or a negative `DENALI_E*`:
  /// `DENALI_EAGAIN` when the transmit queue is full (send again later), EMSGSIZE, EFAULT, ENODEV.
  public static func send(_ frame: UnsafeRawPointer, length: Int) -> Int64 {
    // SAFETY: the host checks [frame, frame + length) against guest memory and only reads it.
    ilwaco_hc_net_send(frame, UInt64(truncatingIfNeeded: length))
  }

  /// Receives the next frame into `buffer` of `capacity` bytes. Returns its length, or a negative
  /// `DENALI_E*`: `DENALI_EAGAIN` when nothing is queued, EMSGSIZE when it does not fit (it stays queued).
  public static func receive(into buffer: UnsafeMutableRawPointer, capacity: Int) -> Int64 {
    // SAFETY: the host checks the buffer against guest memory and writes at most capacity bytes.
    ilwaco_hc_net_recv(buffer, UInt64(truncatingIfNeeded: capacity))
  }
}
