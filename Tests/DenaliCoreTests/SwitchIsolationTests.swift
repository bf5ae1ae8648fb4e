// SwitchIsolationTests.swift: `vm-to-vm = deny`: the switch keeps VMs apart (frames and ARP requests between two
// VMs dropped and counted), while each VM still reaches the uplink, the host reaches each VM, and a VM reaches itself.
import Testing

@testable import DenaliCore

@Suite("VirtualSwitch isolation")
struct SwitchIsolationTests {
  /// A started switch on 10.0.0.0/24 whose gateway is 10.0.0.1, keeping VMs apart, with `count` ports.
  func makeIsolatedSwitch(ports count: Int, uplink: FakeUplink) throws -> (VirtualSwitch, [NetworkPort]) {
    let fabric = VirtualSwitch(
      configuration: .init(
        subnet: IPv4Subnet(address: IPv4Address(10, 0, 0, 0), prefixLength: 24), gateway: IPv4Address(10, 0, 0, 1),
        isolatesVMs: true))
    let ports = try (1...count).map { try fabric.addPort(id: UInt64($0)) }
    try fabric.attach(uplink: uplink)
    fabric.start()
    return (fabric, ports)
  }

  @Test("frames and ARP requests from one VM to another are dropped and counted; the other VM gets nothing")
  func vmToVMDenied() throws {
    let uplink = FakeUplink()
    let (fabric, ports) = try makeIsolatedSwitch(ports: 2, uplink: uplink)
    defer { fabric.stop() }
    let (a, b) = (ports[0], ports[1])
    #expect(a.address == IPv4Address(10, 0, 0, 2), "the gateway's address is never a VM's")
    #expect(a.send(TestFrames.arpRequest(from: a.mac, a.address, asking: b.address)))
    #expect(a.send(TestFrames.udp(from: a.mac, a.address, to: b.mac, b.address)))
    #expect(eventually { a.counters[.vmToVMDenied] == 2 })
    #expect(b.receiveQueueLength == 0 && a.receiveQueueLength == 0, "no answer reveals b, and b gets nothing")
    #expect(uplink.transmitted.isEmpty, "nothing meant for b goes to the host either")
    #expect(b.counters == NetworkCounters())
    #expect(fabric.statistics.arpAnswered == 0)
  }

  @Test("a VM still reaches the uplink and itself, and the host reaches every VM")
  func uplinkAndSelfAllowed() throws {
    let uplink = FakeUplink()
    let (fabric, ports) = try makeIsolatedSwitch(ports: 2, uplink: uplink)
    defer { fabric.stop() }
    let (a, b) = (ports[0], ports[1])
    let gateway = IPv4Address(10, 0, 0, 1)
    let hostMAC = MACAddress(0x0A, 0, 0, 0, 0, 1)
    #expect(a.send(TestFrames.arpRequest(from: a.mac, a.address, asking: gateway)))
    #expect(a.send(TestFrames.udp(from: a.mac, a.address, to: hostMAC, gateway)))
    #expect(eventually { uplink.transmitted.count == 2 })
    #expect(a.send(TestFrames.arpRequest(from: a.mac, a.address, asking: a.address)))
    #expect(eventually { a.receiveQueueLength == 1 }, "the switch answers a VM asking for its own address")
    uplink.inject(TestFrames.arpRequest(from: hostMAC, gateway, asking: b.address))
    uplink.inject(TestFrames.udp(from: hostMAC, gateway, to: b.mac, b.address))
    #expect(eventually { b.receiveQueueLength == 1 && uplink.transmitted.count == 3 })
    #expect(a.counters.totalDrops == 0 && b.counters.totalDrops == 0)
  }

  @Test("without isolation (denalid run's switch) the same frames are delivered")
  func allowedByDefault() throws {
    let fabric = VirtualSwitch(
      configuration: .init(subnet: IPv4Subnet(address: IPv4Address(10, 0, 0, 0), prefixLength: 24)))
    let (a, b) = (try fabric.addPort(id: 1), try fabric.addPort(id: 2))
    fabric.start()
    defer { fabric.stop() }
    #expect(a.send(TestFrames.udp(from: a.mac, a.address, to: b.mac, b.address)))
    #expect(eventually { b.receiveQueueLength == 1 })
    #expect(a.counters[.vmToVMDenied] == 0)
  }
}
