// VirtualSwitchTests.swift: the switch: forwarding by MAC, its own ARP answers, source enforcement, bounded
// receive queues with drop counters, fair queuing, the uplink, and the packet-arrival interrupt.
import DenaliABI
import Foundation
import Testing

@testable import DenaliCore

@Suite("VirtualSwitch")
struct VirtualSwitchTests {
  static let subnet = IPv4Subnet(address: IPv4Address(10, 0, 0, 0), prefixLength: 24)

  /// A started switch with `count` ports (10.0.0.1, .2, ...).
  func makeSwitch(ports count: Int, limits: NetworkPort.Limits = .init(), uplink: FakeUplink? = nil, start: Bool = true)
    throws -> (VirtualSwitch, [NetworkPort])
  {
    let fabric = VirtualSwitch(configuration: .init(subnet: Self.subnet, limits: limits))
    let ports = try (1...count).map { try fabric.addPort(id: UInt64($0)) }
    if let uplink { try fabric.attach(uplink: uplink) }
    if start { fabric.start() }
    return (fabric, ports)
  }

  /// Everything in `port`'s receive queue, in the order the guest would get it.
  func drain(_ port: NetworkPort) -> [[UInt8]] {
    var frames: [[UInt8]] = []
    while case .frame(let frame) = port.receive(capacity: 1514) { frames.append(frame) }
    return frames
  }

  @Test("ports get the subnet's addresses in order, MAC 02:00 + address; a taken address is refused")
  func addresses() throws {
    let (fabric, ports) = try makeSwitch(ports: 3, start: false)
    #expect(ports.map(\.address.description) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
    #expect(ports[1].mac.description == "02:00:0a:00:00:02")
    #expect(throws: NetworkError.addressInUse(IPv4Address(10, 0, 0, 2), byPort: 2)) {
      try fabric.addPort(id: 9, address: IPv4Address(10, 0, 0, 2))
    }
    #expect(throws: NetworkError.self) { try fabric.addPort(id: 10, address: IPv4Address(10, 0, 1, 2)) }
    let small = VirtualSwitch(
      configuration: .init(subnet: IPv4Subnet(address: IPv4Address(10, 9, 0, 0), prefixLength: 30)))
    _ = try small.addPort(id: 1)
    _ = try small.addPort(id: 2)
    #expect(throws: NetworkError.self) { try small.addPort(id: 3) }
  }

  @Test("a unicast frame reaches only the VM with that MAC, and both VMs' counters show it")
  func forwarding() throws {
    let (fabric, ports) = try makeSwitch(ports: 3)
    defer { fabric.stop() }
    let (a, b, c) = (ports[0], ports[1], ports[2])
    let frame = TestFrames.udp(from: a.mac, a.address, to: b.mac, b.address, length: 100, marker: 7)
    #expect(a.send(frame))
    #expect(eventually { b.receiveQueueLength == 1 })
    #expect(drain(b) == [frame])
    #expect(c.receiveQueueLength == 0 && a.receiveQueueLength == 0)
    #expect(a.counters.packetsOut == 1 && a.counters.bytesOut == 100)
    #expect(b.counters.packetsIn == 1 && b.counters.bytesIn == 100)
    #expect(fabric.statistics.forwarded == 1)
  }

  @Test("ARP requests for VM addresses are answered by the switch itself: no VM sees the broadcast")
  func arpAnsweredBySwitch() throws {
    let (fabric, ports) = try makeSwitch(ports: 3)
    defer { fabric.stop() }
    let (a, b, c) = (ports[0], ports[1], ports[2])
    #expect(a.send(TestFrames.arpRequest(from: a.mac, a.address, asking: c.address)))
    #expect(eventually { a.receiveQueueLength == 1 })
    let reply = try #require(EthernetFrame(bytes: drain(a)[0]).arp)
    #expect(reply.operation == ARPMessage.reply)
    #expect(reply.senderMAC == c.mac && reply.senderIP == c.address)
    #expect(reply.targetMAC == a.mac && reply.targetIP == a.address)
    #expect(b.receiveQueueLength == 0 && c.receiveQueueLength == 0)
    #expect(fabric.statistics.arpAnswered == 1)
    // Asking for an address nobody has, with no uplink: dropped and counted, never flooded.
    #expect(a.send(TestFrames.arpRequest(from: a.mac, a.address, asking: IPv4Address(10, 0, 0, 99))))
    #expect(eventually { a.counters[.unknownDestination] == 1 })
    #expect(b.receiveQueueLength == 0 && c.receiveQueueLength == 0)
  }

  @Test("a VM cannot send as another: forged source MAC, IPv4 address or ARP sender are dropped and counted")
  func spoofing() throws {
    let (fabric, ports) = try makeSwitch(ports: 3)
    defer { fabric.stop() }
    let (a, b, c) = (ports[0], ports[1], ports[2])
    let forgedMAC = TestFrames.udp(from: b.mac, a.address, to: c.mac, c.address)
    let forgedIP = TestFrames.udp(from: a.mac, b.address, to: c.mac, c.address)
    let forgedARP = ARPMessage(
      operation: ARPMessage.reply, senderMAC: a.mac, senderIP: b.address, targetMAC: c.mac,
      targetIP: c.address
    ).frame(to: c.mac).bytes
    var forgedARPHardware = forgedARP
    b.mac.store(into: &forgedARPHardware, at: 22)  // the header's source is a's, the ARP body claims b's MAC
    for frame in [forgedMAC, forgedIP, forgedARP, forgedARPHardware] { #expect(a.send(frame)) }
    #expect(eventually { a.counters[.spoofedSource] == 4 })
    #expect(c.receiveQueueLength == 0 && b.receiveQueueLength == 0)
    #expect(a.counters.totalDrops == 4)
    // Not IPv4 or ARP (here IPv6), and a truncated IPv4 header: refused and counted too.
    var ipv6 = TestFrames.udp(from: a.mac, a.address, to: c.mac, c.address)
    ipv6[12] = 0x86
    ipv6[13] = 0xDD
    var short = Array(TestFrames.udp(from: a.mac, a.address, to: c.mac, c.address)[0..<20])
    short[13] = 0x00
    #expect(a.send(ipv6) && a.send(short))
    #expect(eventually { a.counters[.unsupportedProtocol] == 1 && a.counters[.malformed] == 1 })
    #expect(c.receiveQueueLength == 0)
  }

  @Test("a full receive queue drops and counts; frames wait while the VM is not running")
  func boundedReceiveQueue() throws {
    let (fabric, ports) = try makeSwitch(ports: 2, limits: .init(receiveFrames: 4, transmitFrames: 64))
    defer { fabric.stop() }
    let (a, b) = (ports[0], ports[1])
    for index in 0..<10 {
      #expect(a.send(TestFrames.udp(from: a.mac, a.address, to: b.mac, b.address, marker: UInt8(index))))
    }
    #expect(eventually { b.counters[.receiveQueueFull] == 6 })
    let received = drain(b)
    #expect(received.map { $0[59] } == [0, 1, 2, 3], "the first four wait in order; the rest are dropped")
    #expect(b.counters.packetsIn == 4)
  }

  @Test("all receive queues together hold at most receive-memory bytes; receiving and removing a port give them back")
  func receiveMemoryBound() throws {
    let fabric = VirtualSwitch(
      configuration: .init(
        subnet: Self.subnet, limits: .init(receiveFrames: 1000, transmitFrames: 1000), receiveMemoryBytes: 1514))
    let ports = try (1...3).map { try fabric.addPort(id: UInt64($0)) }
    fabric.start()
    defer { fabric.stop() }
    let (a, b, c) = (ports[0], ports[1], ports[2])
    let size = TestFrames.udp(from: a.mac, a.address, to: b.mac, b.address).count
    let fits = 1514 / size
    for index in 0..<fits + 3 {
      #expect(a.send(TestFrames.udp(from: a.mac, a.address, to: b.mac, b.address, marker: UInt8(index))))
    }
    #expect(eventually { b.counters[.receiveMemoryFull] == 3 }, "b's own queue had room: the daemon-wide bound held")
    #expect(b.counters[.receiveQueueFull] == 0)
    #expect(fabric.receiveMemory.bytesInUse == fits * size)
    // Another VM's frames find no room either, until b takes some.
    #expect(a.send(TestFrames.udp(from: a.mac, a.address, to: c.mac, c.address)))
    #expect(eventually { c.counters[.receiveMemoryFull] == 1 })
    #expect(drain(b).count == fits)
    #expect(fabric.receiveMemory.bytesInUse == 0)
    #expect(a.send(TestFrames.udp(from: a.mac, a.address, to: c.mac, c.address)))
    #expect(eventually { c.receiveQueueLength == 1 })
    // A removed port gives its queued frames' bytes back and takes no more.
    fabric.removePort(c)
    #expect(fabric.receiveMemory.bytesInUse == 0)
    #expect(c.receive(capacity: 1514) == .empty)
    #expect(!c.deliver(TestFrames.udp(from: a.mac, a.address, to: c.mac, c.address), from: a.id))
    #expect(c.counters[.unknownDestination] == 1 && fabric.receiveMemory.bytesInUse == 0)
  }

  @Test("a full transmit queue refuses the send (EAGAIN) and counts it; nothing is lost silently")
  func boundedTransmitQueue() throws {
    let (fabric, ports) = try makeSwitch(ports: 2, limits: .init(receiveFrames: 64, transmitFrames: 3), start: false)
    let (a, b) = (ports[0], ports[1])
    let frame = TestFrames.udp(from: a.mac, a.address, to: b.mac, b.address)
    #expect([a.send(frame), a.send(frame), a.send(frame), a.send(frame)] == [true, true, true, false])
    #expect(a.counters.sendsDeferred == 1 && a.counters.packetsOut == 3)
    fabric.start()
    defer { fabric.stop() }
    #expect(eventually { b.receiveQueueLength == 3 })
  }

  @Test("into a receive queue, a flooder cannot crowd out another sender: longest-queue drop and round robin")
  func fairReceiveQueue() throws {
    let (fabric, ports) = try makeSwitch(ports: 3, limits: .init(receiveFrames: 8, transmitFrames: 64), start: false)
    let (flooder, victim, server) = (ports[0], ports[1], ports[2])
    for index in 0..<40 {
      #expect(
        flooder.send(
          TestFrames.udp(
            from: flooder.mac, flooder.address, to: server.mac, server.address, length: 1000, marker: UInt8(index))))
    }
    for index in 0..<3 {
      #expect(
        victim.send(
          TestFrames.udp(
            from: victim.mac, victim.address, to: server.mac, server.address, length: 1000, marker: 200 + UInt8(index)))
      )
    }
    fabric.start()
    defer { fabric.stop() }
    #expect(eventually { server.counters[.receiveQueueFull] == 43 - 8 })
    let order = drain(server).map { $0[999] }
    #expect(order.count == 8)
    let victimPositions = order.indices.filter { order[$0] >= 200 }
    #expect(victimPositions.count == 3, "all of the victim's frames survive: \(order)")
    #expect(victimPositions.allSatisfy { $0 < 6 }, "and come out interleaved with the flooder's: \(order)")
  }

  @Test("deficit round robin gives senders equal bytes whatever their frame sizes")
  func deficitRoundRobinBytes() {
    var schedule = DeficitRoundRobin<Int>(quantum: 1514)
    schedule.activate(1)  // 1500-byte frames
    schedule.activate(2)  // 100-byte frames
    var bytes = [1: 0, 2: 0]
    for _ in 0..<2000 {
      guard let key = schedule.next(headLength: { $0 == 1 ? 1500 : 100 }) else { break }
      let length = key == 1 ? 1500 : 100
      schedule.charge(key, length: length)
      bytes[key, default: 0] += length
    }
    let ratio = Double(bytes[1] ?? 0) / Double(bytes[2] ?? 1)
    #expect(ratio > 0.9 && ratio < 1.1, "bytes: \(bytes)")
  }

  @Test("the receive queue serves senders in turn, not in arrival order")
  func receiveQueueRoundRobin() {
    var queue = ReceiveQueue(capacity: 100, quantum: 1514)
    for index in 0..<10 { _ = queue.enqueue([UInt8](repeating: UInt8(index), count: 1000), from: 1) }
    for index in 0..<3 { _ = queue.enqueue([UInt8](repeating: 100 + UInt8(index), count: 1000), from: 2) }
    var order: [UInt8] = []
    while let frame = queue.dequeue() { order.append(frame[0]) }
    #expect(order.count == 13)
    #expect(Array(order.prefix(6)).filter { $0 >= 100 }.count == 3, "\(order)")
  }

  @Test("a frame arriving in an empty queue raises DENALI_IRQ_NET_RX; draining the queue clears it")
  func packetArrivalInterrupt() throws {
    let (fabric, ports) = try makeSwitch(ports: 2)
    defer { fabric.stop() }
    let (a, b) = (ports[0], ports[1])
    let interrupts = VirtualInterrupts()
    b.attach(interrupts)
    #expect(interrupts.current == 0)
    #expect(a.send(TestFrames.udp(from: a.mac, a.address, to: b.mac, b.address)))
    #expect(eventually { interrupts.current & DENALI_IRQ_NET_RX != 0 })
    #expect(drain(b).count == 1)
    #expect(interrupts.current & DENALI_IRQ_NET_RX == 0)
    // Detached (not running): frames wait, the admission handler is asked, and attaching raises the bit.
    b.detach(interrupts)
    let asked = AtomicFlag()
    b.setAdmissionHandler { _ in asked.set() }
    #expect(a.send(TestFrames.udp(from: a.mac, a.address, to: b.mac, b.address)))
    #expect(eventually { b.receiveQueueLength == 1 })
    #expect(asked.isSet && interrupts.current == 0)
    b.attach(interrupts)
    #expect(interrupts.current & DENALI_IRQ_NET_RX != 0)
  }

  @Test("the uplink: unknown destinations go out, the host's ARP for a VM is answered, host spoofing is dropped")
  func uplink() throws {
    let uplink = FakeUplink()
    let (fabric, ports) = try makeSwitch(ports: 2, uplink: uplink)
    defer { fabric.stop() }
    let (a, b) = (ports[0], ports[1])
    let hostMAC = MACAddress(0x0A, 0, 0, 0, 0, 1)
    let host = IPv4Address(10, 0, 0, 200)
    #expect(a.send(TestFrames.udp(from: a.mac, a.address, to: hostMAC, host)))
    #expect(eventually { uplink.transmitted.count == 1 })
    uplink.inject(TestFrames.arpRequest(from: hostMAC, host, asking: b.address))
    #expect(eventually { uplink.transmitted.count == 2 })
    #expect(EthernetFrame(bytes: uplink.transmitted[1]).arp?.senderMAC == b.mac)
    #expect(b.receiveQueueLength == 0, "the VM never sees the host's ARP broadcast")
    let toB = TestFrames.udp(from: hostMAC, host, to: b.mac, b.address)
    uplink.inject(toB)
    #expect(eventually { b.receiveQueueLength == 1 })
    uplink.inject(TestFrames.udp(from: a.mac, a.address, to: b.mac, b.address))  // the host posing as a
    uplink.inject(TestFrames.udp(from: hostMAC, a.address, to: b.mac, b.address))  // ... or as a's address
    uplink.inject([1, 2, 3])  // garbage
    uplink.inject(TestFrames.udp(from: hostMAC, host, to: .broadcast, IPv4Address(10, 0, 0, 255)))
    #expect(
      eventually {
        let figures = fabric.statistics.uplink
        return figures[.spoofedSource] == 2 && figures[.malformed] == 1 && figures[.notFlooded] == 1
      })
    #expect(b.receiveQueueLength == 1)
  }
}

/// A flag set from another thread.
final class AtomicFlag: @unchecked Sendable {
  private let lock = NSLock()
  private var value = false
  /// Sets it.
  func set() { lock.withLock { value = true } }
  /// Whether it is set.
  var isSet: Bool { lock.withLock { value } }
}
