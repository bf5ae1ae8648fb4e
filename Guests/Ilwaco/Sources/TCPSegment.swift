// TCPSegment.swift: a received TCP segment, parsed in place from the frame (header fields, the MSS option, the
// payload's location), with its checksum verified.

/// The TCP header's control bits.
public enum TCPFlags {
  /// No more data from the sender.
  public static let fin: UInt8 = 0x01
  /// Synchronize sequence numbers.
  public static let syn: UInt8 = 0x02
  /// Reset the connection.
  public static let rst: UInt8 = 0x04
  /// Push function.
  public static let psh: UInt8 = 0x08
  /// The acknowledgment field is significant.
  public static let ack: UInt8 = 0x10
  /// The urgent pointer is significant (ignored here).
  public static let urg: UInt8 = 0x20
}

/// One received segment. `payload` points into the NIC's receive buffer: valid only while the frame is
/// being handled.
struct TCPSegment {
  var sourcePort: UInt16
  var destinationPort: UInt16
  var sequence: TCPSequence
  var acknowledgment: TCPSequence
  var flags: UInt8
  var window: UInt16
  /// The peer's MSS option (SYN segments only); 0 when absent.
  var maximumSegmentSize: UInt16
  var payload: UnsafeRawPointer
  var payloadLength: Int

  /// Whether all of `bits` are set.
  @inline(__always)
  func has(_ bits: UInt8) -> Bool { flags & bits == bits }

  /// Sequence space the segment occupies: its payload, plus one each for SYN and FIN.
  var sequenceLength: UInt32 {
    UInt32(truncatingIfNeeded: payloadLength) &+ UInt32(flags & TCPFlags.syn != 0 ? 1 : 0)
      &+ UInt32(flags & TCPFlags.fin)
  }

  /// The segment after the sequence of its last octet (SYN and FIN included).
  var end: TCPSequence { sequence + sequenceLength }

  /// Parses the TCP segment of `length` bytes at `frame + offset` of an IPv4 frame whose addresses are at
  /// `frame + 26` (source, then destination); nil when it is malformed or its checksum is wrong.
  static func parse(_ frame: UnsafeRawPointer, at offset: Int, length: Int) -> TCPSegment? {
    guard length >= 20 else { return nil }
    // SAFETY: the caller (NetworkStack) checked that offset + length bytes lie in the received frame, and the
    // IPv4 header (with the addresses at 26..<34) before it; every load below is inside [offset, offset + length).
    let header = frame + offset
    let dataOffset = Int(header.load(fromByteOffset: 12, as: UInt8.self) >> 4) * 4
    guard dataOffset >= 20, dataOffset <= length else { return nil }
    // Pseudo-header: both addresses, protocol 6, the TCP length; all in memory order.
    var sum = ilwaco_checksum_add(frame + 26, 8, 0)
    sum &+= UInt64(UInt16(6).bigEndian) &+ UInt64(UInt16(truncatingIfNeeded: length).bigEndian)
    guard ilwaco_checksum_finish(ilwaco_checksum_add(header, length, sum)) == 0 else { return nil }
    let ports = UInt32(bigEndian: header.loadUnaligned(as: UInt32.self))
    var segment = TCPSegment(
      sourcePort: UInt16(truncatingIfNeeded: ports >> 16),
      destinationPort: UInt16(truncatingIfNeeded: ports),
      sequence: TCPSequence(UInt32(bigEndian: header.loadUnaligned(fromByteOffset: 4, as: UInt32.self))),
      acknowledgment: TCPSequence(UInt32(bigEndian: header.loadUnaligned(fromByteOffset: 8, as: UInt32.self))),
      flags: header.load(fromByteOffset: 13, as: UInt8.self) & 0x3F,
      window: UInt16(bigEndian: header.loadUnaligned(fromByteOffset: 14, as: UInt16.self)),
      maximumSegmentSize: 0,
      payload: UnsafeRawPointer(header + dataOffset),
      payloadLength: length - dataOffset)
    if segment.flags & TCPFlags.syn != 0 && dataOffset > 20 {
      segment.maximumSegmentSize = Self.parseMSS(header, optionsEnd: dataOffset)
    }
    return segment
  }

  /// The MSS option among the options in `header[20..<optionsEnd]`, or 0.
  private static func parseMSS(_ header: UnsafeRawPointer, optionsEnd: Int) -> UInt16 {
    var index = 20
    // SAFETY: every load is at an index checked to be below optionsEnd, which is inside the segment.
    while index < optionsEnd {
      let kind = header.load(fromByteOffset: index, as: UInt8.self)
      if kind == 0 { break }  // end of option list
      if kind == 1 {  // no-operation
        index += 1
        continue
      }
      guard index + 1 < optionsEnd else { break }
      let size = Int(header.load(fromByteOffset: index + 1, as: UInt8.self))
      guard size >= 2, index + size <= optionsEnd else { break }
      if kind == 2 && size == 4 {
        return UInt16(bigEndian: header.loadUnaligned(fromByteOffset: index + 2, as: UInt16.self))
      }
      index += size
    }
    return 0
  }
}
