// NetworkStack.swift: Ilwaco's network stack: Ethernet, ARP, IPv4, ICMP echo and UDP over the virtual NIC; TCP
// segments go to the `TCPStack` attached to it.
// Frames are parsed and built in place in two fixed buffers with unaligned loads and stores; checksums are
// the C helpers' (eight bytes per instruction). Every guest instruction costs about 0.8 µs on our hosts.

/// Counters of one stack.
public struct NetworkStatistics {
  /// Frames taken from the NIC.
  public var framesReceived: UInt64 = 0
  /// Frames handed to the NIC.
  public var framesSent: UInt64 = 0
  /// Received frames dropped: malformed, bad checksum, not for this address, fragments, unknown protocol.
  public var framesDropped: UInt64 = 0
  /// UDP datagrams for a port nobody bound.
  public var datagramsUnbound: UInt64 = 0
  /// ICMP echo requests answered.
  public var echoRepliesSent: UInt64 = 0
  /// ARP requests sent.
  public var arpRequestsSent: UInt64 = 0
  /// Sends refused because the NIC's transmit queue was full.
  public var sendsBusy: UInt64 = 0
}

/// The network stack of this VM: one IPv4 address on one NIC. Drive it with `attach(to:)` on an
/// `EventLoop` (it then handles every frame as the packet-arrival interrupt comes in), or call `poll()`.
public final class NetworkStack {
  /// This VM's address.
  public let address: IPv4Address
  /// The subnet mask.
  public let netmask: IPv4Address
  /// The default gateway (zero: none).
  public let gateway: IPv4Address
  /// Counters.
  public private(set) var statistics = NetworkStatistics()

  static let bufferSize = 1536
  static let arpEntries = 16
  /// This VM's MAC address (six bytes in memory order, loaded little-endian).
  let mac: UInt64
  private let receiveBuffer: UnsafeMutableRawPointer
  /// Where outgoing frames are built (the UDP and TCP senders' too); `bufferSize` bytes.
  let transmitBuffer: UnsafeMutableRawPointer
  /// A frame waiting for ARP to resolve `pendingHop`.
  private let pendingBuffer: UnsafeMutableRawPointer
  private var pendingLength = 0
  private var pendingHop = IPv4Address.zero
  private let arpAddresses: UnsafeMutablePointer<UInt32>
  private let arpMACs: UnsafeMutablePointer<UInt64>
  private var arpCount = 0
  private var arpNext = 0
  private var sockets: [UDPSocket] = []
  private var nextIdentification: UInt16 = 1
  /// Takes every TCP segment for this address, and is told when a batch of frames begins and ends.
  var tcp: TCPStack?

  /// The stack over this VM's NIC, or nil when the VM has none.
  public init?() {
    guard NetworkInterface.isPresent else { return nil }
    mac = NetworkInterface.mac
    address = NetworkInterface.address
    netmask = NetworkInterface.netmask
    gateway = NetworkInterface.gateway
    receiveBuffer = .allocate(byteCount: Self.bufferSize, alignment: 16)
    transmitBuffer = .allocate(byteCount: Self.bufferSize, alignment: 16)
    pendingBuffer = .allocate(byteCount: Self.bufferSize, alignment: 16)
    arpAddresses = .allocate(capacity: Self.arpEntries)
    arpMACs = .allocate(capacity: Self.arpEntries)
  }

  /// Handles frames whenever the packet-arrival interrupt is delivered on `loop`, and once now (frames
  /// may have arrived before the loop runs).
  public func attach(to loop: EventLoop) {
    loop.onInterrupt(Interrupt.networkReceive) { [self] _ in poll() }
    poll()
  }

  /// Binds UDP `port`; `handler` runs for every datagram to it (from `poll()`).
  public func bind(port: UInt16, _ handler: @escaping (Datagram) -> Void) -> UDPSocket {
    let socket = UDPSocket(stack: self, port: port, handler: handler)
    sockets.append(socket)
    return socket
  }

  /// Receives and handles every queued frame; returns how many. After each receive the host sets
  /// `Interrupt.networkReceive` in the virtual registers exactly when more frames wait, so the loop ends
  /// without a receive that finds nothing.
  @discardableResult
  public func poll() -> Int {
    tcp?.beginBatch()
    defer { tcp?.endBatch() }
    return receiveQueued()
  }

  /// Whether the host holds frames this stack has not received yet (as of the last exit).
  var hasQueuedFrames: Bool { VirtualRegisters.pendingInterrupts & Interrupt.networkReceive != 0 }

  /// Receives and handles every queued frame inside the caller's batch; returns how many.
  @discardableResult
  func receiveQueued() -> Int {
    var handled = 0
    while true {
      let length = NetworkInterface.receive(into: receiveBuffer, capacity: Self.bufferSize)
      guard length > 0 else { break }
      handled += 1
      statistics.framesReceived &+= 1
      handle(length: Int(length))
      if VirtualRegisters.pendingInterrupts & Interrupt.networkReceive == 0 { break }
    }
    return handled
  }

  // MARK: Receiving

  private func handle(length: Int) {
    let frame = receiveBuffer
    guard length >= 14 else { return drop() }
    // SAFETY (this function and the handlers below): `length` <= bufferSize is what the host wrote into the
    // receive buffer; every load is at an offset checked against `length` (or a header length derived from
    // checked fields) before it is made.
    switch frame.loadUnaligned(fromByteOffset: 12, as: UInt16.self) {
    case UInt16(0x0800).bigEndian: handleIPv4(length: length)
    case UInt16(0x0806).bigEndian: handleARP(length: length)
    default: drop()
    }
  }

  private func drop() { statistics.framesDropped &+= 1 }

  private func handleARP(length: Int) {
    let frame = receiveBuffer
    // Hardware type 1, protocol 0x0800, lengths 6 and 4: bytes 00 01 08 00 06 04.
    guard length >= 42, frame.loadUnaligned(fromByteOffset: 14, as: UInt32.self) == 0x0008_0100,
      frame.loadUnaligned(fromByteOffset: 18, as: UInt16.self) == 0x0406
    else { return drop() }
    let operation = UInt16(bigEndian: frame.loadUnaligned(fromByteOffset: 20, as: UInt16.self))
    let senderMAC = Self.loadMAC(frame, at: 22)
    let senderIP = IPv4Address(value: UInt32(bigEndian: frame.loadUnaligned(fromByteOffset: 28, as: UInt32.self)))
    let targetIP = IPv4Address(value: UInt32(bigEndian: frame.loadUnaligned(fromByteOffset: 38, as: UInt32.self)))
    if operation == 2 {
      learn(senderIP, senderMAC)
    } else if operation == 1 && targetIP == address {
      learn(senderIP, senderMAC)
      sendARP(operation: 2, to: senderMAC, targetMAC: senderMAC, targetIP: senderIP)
    }
  }

  private func handleIPv4(length: Int) {
    let frame = receiveBuffer
    guard length >= 34 else { return drop() }
    let versionAndLength = frame.load(fromByteOffset: 14, as: UInt8.self)
    let headerLength = Int(versionAndLength & 0x0F) * 4
    let totalLength = Int(UInt16(bigEndian: frame.loadUnaligned(fromByteOffset: 16, as: UInt16.self)))
    guard versionAndLength >> 4 == 4, headerLength >= 20, totalLength >= headerLength, 14 + totalLength <= length,
      ilwaco_checksum_finish(ilwaco_checksum_add(frame + 14, headerLength, 0)) == 0,
      frame.loadUnaligned(fromByteOffset: 20, as: UInt16.self) & UInt16(0x3FFF).bigEndian == 0  // no fragments
    else { return drop() }
    let destination = UInt32(bigEndian: frame.loadUnaligned(fromByteOffset: 30, as: UInt32.self))
    guard destination == address.value || destination == 0xFFFF_FFFF else { return drop() }
    let source = IPv4Address(value: UInt32(bigEndian: frame.loadUnaligned(fromByteOffset: 26, as: UInt32.self)))
    if onLink(source) { learn(source, Self.loadMAC(frame, at: 6)) }
    let payload = 14 + headerLength
    let payloadLength = totalLength - headerLength
    switch frame.load(fromByteOffset: 23, as: UInt8.self) {
    case 1: handleICMP(at: payload, length: payloadLength, headerLength: headerLength)
    case 17: handleUDP(at: payload, length: payloadLength, source: source)
    case 6:
      guard destination == address.value, let tcp else { return drop() }
      tcp.receive(frame, at: payload, length: payloadLength, source: source)
    default: drop()
    }
  }

  /// Answers an echo request in place: the request becomes the reply.
  private func handleICMP(at offset: Int, length: Int, headerLength: Int) {
    // SAFETY: offset + length = 14 + the IPv4 total length, checked against the frame's length.
    let frame = receiveBuffer
    guard length >= 8, frame.load(fromByteOffset: offset, as: UInt8.self) == 8,
      ilwaco_checksum_finish(ilwaco_checksum_add(frame + offset, length, 0)) == 0
    else { return drop() }
    // Ethernet: back to the sender, from us.
    Self.storeMAC(Self.loadMAC(frame, at: 6), frame, at: 0)
    Self.storeMAC(mac, frame, at: 6)
    // IPv4: swap the addresses (the header checksum does not change), fresh TTL.
    let source = frame.loadUnaligned(fromByteOffset: 26, as: UInt32.self)
    frame.storeBytes(of: frame.loadUnaligned(fromByteOffset: 30, as: UInt32.self), toByteOffset: 26, as: UInt32.self)
    frame.storeBytes(of: source, toByteOffset: 30, as: UInt32.self)
    frame.storeBytes(of: 64, toByteOffset: 22, as: UInt8.self)
    frame.storeBytes(of: 0, toByteOffset: 24, as: UInt16.self)
    frame.storeBytes(
      of: ilwaco_checksum_finish(ilwaco_checksum_add(frame + 14, headerLength, 0)), toByteOffset: 24, as: UInt16.self)
    // ICMP: type 0 (echo reply), checksum over the same data.
    frame.storeBytes(of: 0, toByteOffset: offset, as: UInt8.self)
    frame.storeBytes(of: 0, toByteOffset: offset + 2, as: UInt16.self)
    frame.storeBytes(
      of: ilwaco_checksum_finish(ilwaco_checksum_add(frame + offset, length, 0)), toByteOffset: offset + 2,
      as: UInt16.self)
    if transmit(frame, length: offset + length) { statistics.echoRepliesSent &+= 1 }
  }

  private func handleUDP(at offset: Int, length: Int, source: IPv4Address) {
    let frame = receiveBuffer
    guard length >= 8 else { return drop() }
    let udpLength = Int(UInt16(bigEndian: frame.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)))
    guard udpLength >= 8, udpLength <= length else { return drop() }
    if frame.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self) != 0 {
      // Pseudo-header: both addresses (8 bytes at 26), protocol 17, UDP length; all in memory order.
      var sum = ilwaco_checksum_add(frame + 26, 8, 0)
      sum &+= UInt64(UInt16(17).bigEndian) &+ UInt64(UInt16(truncatingIfNeeded: udpLength).bigEndian)
      guard ilwaco_checksum_finish(ilwaco_checksum_add(frame + offset, udpLength, sum)) == 0 else { return drop() }
    }
    let port = UInt16(bigEndian: frame.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self))
    for socket in sockets where socket.port == port {
      let datagram = Datagram(
        source: source,
        sourcePort: UInt16(bigEndian: frame.loadUnaligned(fromByteOffset: offset, as: UInt16.self)),
        payload: UnsafeRawBufferPointer(start: frame + offset + 8, count: udpLength - 8))
      socket.handler(datagram)
      return
    }
    statistics.datagramsUnbound &+= 1
  }

  // MARK: Sending

  /// Builds a UDP datagram in the transmit buffer and sends it (or holds it for ARP).
  func sendUDP(
    from sourcePort: UInt16, to destination: IPv4Address, port destinationPort: UInt16,
    payload: UnsafeRawBufferPointer, checksum: Bool
  ) -> SendResult {
    guard payload.count <= 1472 else { return .failed }
    // SAFETY: 42 + 1472 = 1514 <= bufferSize bytes of the transmit buffer are written; the payload's bytes
    // are the caller's, valid for this call.
    let frame = transmitBuffer
    let udpLength = 8 + payload.count
    let totalLength = 20 + udpLength
    // IPv4 header.
    frame.storeBytes(of: UInt16(0x0045), toByteOffset: 14, as: UInt16.self)  // version 4, 20 bytes; TOS 0
    frame.storeBytes(of: UInt16(truncatingIfNeeded: totalLength).bigEndian, toByteOffset: 16, as: UInt16.self)
    frame.storeBytes(of: nextIdentification.bigEndian, toByteOffset: 18, as: UInt16.self)
    nextIdentification &+= 1
    frame.storeBytes(of: UInt16(0x4000).bigEndian, toByteOffset: 20, as: UInt16.self)  // don't fragment
    frame.storeBytes(of: UInt16(0x1140), toByteOffset: 22, as: UInt16.self)  // TTL 64, protocol 17
    frame.storeBytes(of: 0, toByteOffset: 24, as: UInt16.self)
    frame.storeBytes(of: address.value.bigEndian, toByteOffset: 26, as: UInt32.self)
    frame.storeBytes(of: destination.value.bigEndian, toByteOffset: 30, as: UInt32.self)
    frame.storeBytes(
      of: ilwaco_checksum_finish(ilwaco_checksum_add(frame + 14, 20, 0)), toByteOffset: 24, as: UInt16.self)
    // UDP header and payload.
    frame.storeBytes(of: sourcePort.bigEndian, toByteOffset: 34, as: UInt16.self)
    frame.storeBytes(of: destinationPort.bigEndian, toByteOffset: 36, as: UInt16.self)
    frame.storeBytes(of: UInt16(truncatingIfNeeded: udpLength).bigEndian, toByteOffset: 38, as: UInt16.self)
    frame.storeBytes(of: 0, toByteOffset: 40, as: UInt16.self)
    if let base = payload.baseAddress, payload.count > 0 {
      (frame + 42).copyMemory(from: base, byteCount: payload.count)
    }
    if checksum {
      var sum = ilwaco_checksum_add(frame + 26, 8, 0)
      sum &+= UInt64(UInt16(17).bigEndian) &+ UInt64(UInt16(truncatingIfNeeded: udpLength).bigEndian)
      let value = ilwaco_checksum_finish(ilwaco_checksum_add(frame + 34, udpLength, sum))
      frame.storeBytes(of: value == 0 ? 0xFFFF : value, toByteOffset: 40, as: UInt16.self)
    }
    return sendIPv4(frame, length: 14 + totalLength, to: destination)
  }

  /// Sends an IPv4 frame whose IP part is built: fills in the Ethernet header for the next hop, or holds
  /// the frame and asks ARP.
  func sendIPv4(_ frame: UnsafeMutableRawPointer, length: Int, to destination: IPv4Address) -> SendResult {
    let hop: IPv4Address
    if destination == .broadcast {
      hop = destination
    } else if onLink(destination) {
      hop = destination
    } else if gateway != .zero {
      hop = gateway
    } else {
      return .failed
    }
    let hopMAC: UInt64? = hop == .broadcast ? 0xFFFF_FFFF_FFFF : lookup(hop)
    guard let hopMAC else {
      Self.storeMAC(mac, frame, at: 6)
      frame.storeBytes(of: UInt16(0x0800).bigEndian, toByteOffset: 12, as: UInt16.self)
      // SAFETY: length <= 1514 <= bufferSize, the size of both buffers.
      pendingBuffer.copyMemory(from: frame, byteCount: length)
      pendingLength = length
      pendingHop = hop
      sendARP(operation: 1, to: 0xFFFF_FFFF_FFFF, targetMAC: 0, targetIP: hop)
      return .resolving
    }
    return sendIPv4(frame, length: length, hopMAC: hopMAC)
  }

  /// Sends an IPv4 frame whose IP part is built to the next hop with MAC `hopMAC` (known), without ARP.
  @inline(__always)
  func sendIPv4(_ frame: UnsafeMutableRawPointer, length: Int, hopMAC: UInt64) -> SendResult {
    // SAFETY: the frame is one of the stack's buffers, at least 14 bytes.
    Self.storeMAC(hopMAC, frame, at: 0)
    Self.storeMAC(mac, frame, at: 6)
    frame.storeBytes(of: UInt16(0x0800).bigEndian, toByteOffset: 12, as: UInt16.self)
    let result = NetworkInterface.send(frame, length: length)
    if result == Int64(DENALI_EAGAIN) {
      statistics.sendsBusy &+= 1
      return .busy
    }
    guard result >= 0 else { return .failed }
    statistics.framesSent &+= 1
    return .sent
  }

  /// The MAC of the next hop to `destination` if the ARP cache knows it (nil: unknown, or no route).
  func hopMAC(for destination: IPv4Address) -> UInt64? {
    if onLink(destination) { return lookup(destination) }
    return gateway == .zero ? nil : lookup(gateway)
  }

  private func sendARP(operation: UInt16, to destination: UInt64, targetMAC: UInt64, targetIP: IPv4Address) {
    // SAFETY: 42 bytes of the bufferSize-byte transmit buffer.
    let frame = transmitBuffer
    Self.storeMAC(destination, frame, at: 0)
    Self.storeMAC(mac, frame, at: 6)
    frame.storeBytes(of: UInt16(0x0806).bigEndian, toByteOffset: 12, as: UInt16.self)
    frame.storeBytes(of: UInt32(0x0008_0100), toByteOffset: 14, as: UInt32.self)  // Ethernet, IPv4
    frame.storeBytes(of: UInt16(0x0406), toByteOffset: 18, as: UInt16.self)  // lengths 6 and 4
    frame.storeBytes(of: operation.bigEndian, toByteOffset: 20, as: UInt16.self)
    Self.storeMAC(mac, frame, at: 22)
    frame.storeBytes(of: address.value.bigEndian, toByteOffset: 28, as: UInt32.self)
    Self.storeMAC(targetMAC, frame, at: 32)
    frame.storeBytes(of: targetIP.value.bigEndian, toByteOffset: 38, as: UInt32.self)
    if operation == 1 { statistics.arpRequestsSent &+= 1 }
    _ = transmit(frame, length: 42)
  }

  /// Hands a finished frame to the NIC.
  private func transmit(_ frame: UnsafeRawPointer, length: Int) -> Bool {
    let result = NetworkInterface.send(frame, length: length)
    if result == Int64(DENALI_EAGAIN) { statistics.sendsBusy &+= 1 }
    guard result >= 0 else { return false }
    statistics.framesSent &+= 1
    return true
  }

  // MARK: ARP cache

  private func onLink(_ other: IPv4Address) -> Bool {
    (other.value ^ address.value) & netmask.value == 0
  }

  // SAFETY (the cache): indexes stay below arpCount <= arpEntries, the capacity of both arrays.
  private func lookup(_ hop: IPv4Address) -> UInt64? {
    for index in 0..<arpCount where arpAddresses[index] == hop.value { return arpMACs[index] }
    return nil
  }

  /// Records `ip` at `hardware`, and sends the held frame if it was waiting for this address.
  private func learn(_ ip: IPv4Address, _ hardware: UInt64) {
    var slot = -1
    for index in 0..<arpCount where arpAddresses[index] == ip.value {
      slot = index
      break
    }
    if slot < 0 {
      if arpCount < Self.arpEntries {
        slot = arpCount
        arpCount += 1
      } else {
        slot = arpNext
        arpNext = (arpNext + 1) % Self.arpEntries
      }
      arpAddresses[slot] = ip.value
    }
    arpMACs[slot] = hardware
    if pendingLength > 0 && pendingHop == ip {
      Self.storeMAC(hardware, pendingBuffer, at: 0)
      _ = transmit(pendingBuffer, length: pendingLength)
      pendingLength = 0
    }
  }

  // MARK: MAC addresses (six bytes in memory order, loaded little-endian)

  /// SAFETY: the caller checked that `offset + 6` bytes lie in the frame.
  private static func loadMAC(_ frame: UnsafeRawPointer, at offset: Int) -> UInt64 {
    UInt64(frame.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
      | UInt64(frame.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)) << 32
  }

  /// SAFETY: the caller writes inside one of the stack's buffers (`offset + 6 <= bufferSize`).
  private static func storeMAC(_ value: UInt64, _ frame: UnsafeMutableRawPointer, at offset: Int) {
    frame.storeBytes(of: UInt32(truncatingIfNeeded: value), toByteOffset: offset, as: UInt32.self)
    frame.storeBytes(of: UInt16(truncatingIfNeeded: value >> 32), toByteOffset: offset + 4, as: UInt16.self)
  }
}
