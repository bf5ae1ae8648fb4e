// TCPTransmitter.swift: builds one TCP segment (Ethernet, IPv4 and TCP headers, payload copied from a send
// ring) in the network stack's transmit buffer, checksums it, and hands it to the NIC.

/// The header fields of a segment to send.
struct TCPOutgoingSegment {
  var localPort: UInt16
  var remotePort: UInt16
  var sequence: TCPSequence
  var acknowledgment: TCPSequence
  var flags: UInt8
  var window: UInt16
  /// Our MSS option (SYN segments); 0: no options.
  var maximumSegmentSize: UInt16 = 0
}

/// Sends TCP segments from this VM's address.
struct TCPTransmitter {
  /// Largest payload per segment: a 1500-byte IPv4 packet less 40 bytes of headers.
  static let maximumSegmentSize = 1460
  let network: NetworkStack

  /// Builds and sends `segment` to `remote`, with `count` payload bytes from `ring` starting at `payloadStart`
  /// (`count` at most `maximumSegmentSize`). `hopMAC` is the next hop's MAC if known (0: ask the ARP cache,
  /// and hold the frame for ARP if it does not know it either).
  func send(
    _ segment: TCPOutgoingSegment, to remote: IPv4Address, hopMAC: UInt64, ring: TCPRingBuffer?,
    payloadStart: TCPSequence, count: Int
  ) -> SendResult {
    let frame = network.transmitBuffer
    let headerLength = segment.maximumSegmentSize != 0 ? 24 : 20
    let tcpLength = headerLength + count
    // SAFETY: 14 + 20 + 24 + 1460 = 1518 <= NetworkStack.bufferSize (1536) bytes of the transmit buffer are
    // written at most; the ring copy writes `count` bytes after the headers.
    // IPv4 header: version 4, 20 bytes, TOS 0; total length; identification 0 with don't-fragment (RFC 6864,
    // an atomic datagram); TTL 64, protocol 6; checksum; addresses.
    frame.storeBytes(of: UInt16(0x0045), toByteOffset: 14, as: UInt16.self)
    frame.storeBytes(of: UInt16(truncatingIfNeeded: 20 + tcpLength).bigEndian, toByteOffset: 16, as: UInt16.self)
    frame.storeBytes(of: UInt32(0x4000).bigEndian, toByteOffset: 18, as: UInt32.self)
    frame.storeBytes(of: UInt32(0x0000_0640), toByteOffset: 22, as: UInt32.self)
    frame.storeBytes(of: network.address.value.bigEndian, toByteOffset: 26, as: UInt32.self)
    frame.storeBytes(of: remote.value.bigEndian, toByteOffset: 30, as: UInt32.self)
    frame.storeBytes(
      of: ilwaco_checksum_finish(ilwaco_checksum_add(frame + 14, 20, 0)), toByteOffset: 24, as: UInt16.self)
    // TCP header.
    let ports = UInt32(segment.localPort) << 16 | UInt32(segment.remotePort)
    frame.storeBytes(of: ports.bigEndian, toByteOffset: 34, as: UInt32.self)
    frame.storeBytes(of: segment.sequence.value.bigEndian, toByteOffset: 38, as: UInt32.self)
    frame.storeBytes(of: segment.acknowledgment.value.bigEndian, toByteOffset: 42, as: UInt32.self)
    // Data offset in the high nibble of byte 46, flags in byte 47, window in 48-49, checksum and urgent pointer 0.
    let offsetAndFlags = UInt16(headerLength / 4) << 4 | UInt16(segment.flags) << 8
    frame.storeBytes(of: offsetAndFlags, toByteOffset: 46, as: UInt16.self)
    frame.storeBytes(of: segment.window.bigEndian, toByteOffset: 48, as: UInt16.self)
    frame.storeBytes(of: UInt32(0), toByteOffset: 50, as: UInt32.self)
    if segment.maximumSegmentSize != 0 {
      // Kind 2, length 4, the value.
      let option = UInt32(0x0204_0000) | UInt32(segment.maximumSegmentSize)
      frame.storeBytes(of: option.bigEndian, toByteOffset: 54, as: UInt32.self)
    }
    if let ring, count > 0 { ring.load(at: payloadStart, into: frame + 34 + headerLength, count: count) }
    // Checksum over the pseudo-header (the addresses at 26-33, which run straight into the TCP header at 34,
    // the protocol and the TCP length), the header and the payload, in one pass.
    let pseudo = UInt64(UInt16(6).bigEndian) &+ UInt64(UInt16(truncatingIfNeeded: tcpLength).bigEndian)
    frame.storeBytes(
      of: ilwaco_checksum_finish(ilwaco_checksum_add(frame + 26, 8 + tcpLength, pseudo)), toByteOffset: 50,
      as: UInt16.self)
    let length = 34 + tcpLength
    if hopMAC != 0 { return network.sendIPv4(frame, length: length, hopMAC: hopMAC) }
    return network.sendIPv4(frame, length: length, to: remote)
  }
}
