// NetworkDeviceTests.swift: the NIC hypercalls' checks, in order, over a real switch port (no KVM needed).
import DenaliABI
import Foundation
import KVM
import Testing

@testable import DenaliCore

@Suite("NetworkDevice")
struct NetworkDeviceTests {
  static let request: UInt64 = 0x9_0000
  static let buffer: UInt64 = 0x10_0000

  func call(_ table: HypercallTable, _ memory: GuestMemory, _ number: UInt32, buffer: UInt64 = buffer, length: UInt64)
    throws -> Int64
  {
    var io = denali_hc_net_io()
    io.buffer = buffer
    io.length = length
    try memory.store(io, at: Self.request)
    #expect(table.dispatch(number: UInt16(number), structAddress: Self.request, memory: memory) == .resume)
    return try memory.read(Int64.self, at: Self.request)
  }

  @Test("without a NIC both calls return ENODEV")
  func noNIC() throws {
    var table = HypercallTable()
    NetworkDevice(port: nil, interrupts: VirtualInterrupts()).register(in: &table)
    let memory = try GuestMemory(size: 4 << 20)
    #expect(try call(table, memory, DENALI_HC_NET_SEND, length: 60) == Int64(DENALI_ENODEV))
    #expect(try call(table, memory, DENALI_HC_NET_RECV, length: 1514) == Int64(DENALI_ENODEV))
  }

  @Test("send checks length then buffer; receive checks buffer, then EAGAIN, then EMSGSIZE keeping the frame")
  func checks() throws {
    let fabric = VirtualSwitch(
      configuration: .init(subnet: IPv4Subnet(address: IPv4Address(10, 0, 0, 0), prefixLength: 24)))
    let a = try fabric.addPort(id: 1)
    let b = try fabric.addPort(id: 2)
    fabric.start()
    defer { fabric.stop() }
    var table = HypercallTable()
    let interrupts = VirtualInterrupts()
    let device = NetworkDevice(port: b, interrupts: interrupts)
    device.register(in: &table)
    let memory = try GuestMemory(size: 4 << 20)
    let outside = memory.size + 4096
    #expect(try call(table, memory, DENALI_HC_NET_SEND, length: 13) == Int64(DENALI_EMSGSIZE))
    #expect(try call(table, memory, DENALI_HC_NET_SEND, length: 1515) == Int64(DENALI_EMSGSIZE))
    #expect(try call(table, memory, DENALI_HC_NET_SEND, buffer: outside, length: 60) == Int64(DENALI_EFAULT))
    #expect(try call(table, memory, DENALI_HC_NET_SEND, buffer: UInt64.max - 10, length: 60) == Int64(DENALI_EFAULT))
    #expect(try call(table, memory, DENALI_HC_NET_RECV, buffer: outside, length: 1514) == Int64(DENALI_EFAULT))
    #expect(try call(table, memory, DENALI_HC_NET_RECV, length: 1514) == Int64(DENALI_EAGAIN))
    // A 200-byte frame from a to b.
    let frame = TestFrames.udp(from: a.mac, a.address, to: b.mac, b.address, length: 200, marker: 9)
    #expect(a.send(frame))
    #expect(eventually { b.receiveQueueLength == 1 })
    #expect(interrupts.current & DENALI_IRQ_NET_RX != 0)
    #expect(try call(table, memory, DENALI_HC_NET_RECV, length: 100) == Int64(DENALI_EMSGSIZE))
    #expect(b.receiveQueueLength == 1, "a frame too big for the buffer stays queued")
    #expect(try call(table, memory, DENALI_HC_NET_RECV, length: 1514) == 200)
    #expect(try memory.bytes(at: Self.buffer, count: 200) == frame)
    #expect(interrupts.current & DENALI_IRQ_NET_RX == 0)
    // The guest's send: copied out of guest memory, accepted (ret = length), delivered to a.
    let reply = TestFrames.udp(from: b.mac, b.address, to: a.mac, a.address, length: 80, marker: 3)
    try memory.write(reply, at: Self.buffer)
    #expect(try call(table, memory, DENALI_HC_NET_SEND, length: 80) == 80)
    #expect(eventually { a.receiveQueueLength == 1 })
    #expect(a.receive(capacity: 1514) == .frame(reply))
    #expect(b.counters.packetsOut == 1 && b.counters.packetsIn == 1 && b.counters.bytesIn == 200)
  }
}
