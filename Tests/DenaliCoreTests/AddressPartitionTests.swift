// AddressPartitionTests.swift: a subnet shared by several VM processes' switches: each gives out only its own
// addresses (offset from the first host address modulo the count), counts only those as its capacity, refuses
// another's, and the daemon's hub sends each frame to the process owning the VM it is for.
import Testing

@testable import DenaliCore

@Suite("Address partition and the hub")
struct AddressPartitionTests {
  /// 10.2.0.0/28: host addresses .1 to .14; the gateway takes .1.
  static let subnet = IPv4Subnet(address: IPv4Address(10, 2, 0, 0), prefixLength: 28)
  static let gateway = IPv4Address(10, 2, 0, 1)

  static func configuration(_ index: Int, of count: Int) -> VirtualSwitch.Configuration {
    VirtualSwitch.Configuration(
      subnet: subnet, gateway: gateway, partition: AddressPartition(index: index, count: count))
  }

  @Test("three switches share 10.2.0.0/28: each gives out its own addresses only, and together all of them once")
  func disjointAllocation() throws {
    var given: [IPv4Address: Int] = [:]
    for index in 0..<3 {
      let configuration = Self.configuration(index, of: 3)
      let fabric = VirtualSwitch(configuration: configuration)
      // 14 host addresses: offsets 0-13; process 0 owns 0,3,6,9,12 (5, one of them the gateway's .1), 1 and 2 own 4.
      #expect(configuration.assignableAddressCount == [4, 5, 4][index])
      var ports: [NetworkPort] = []
      while let port = try? fabric.addPort(id: UInt64(ports.count + 1)) { ports.append(port) }
      #expect(ports.count == configuration.assignableAddressCount)
      for port in ports {
        #expect(given[port.address] == nil, "\(port.address) given twice")
        given[port.address] = index
        #expect(Int(port.address.value - Self.subnet.network.value - 1) % 3 == index)
      }
      // Another process's address is refused, as is the gateway's.
      let foreign = IPv4Address(value: Self.subnet.network.value + 1 + UInt32((index + 1) % 3) + 3)
      #expect(throws: NetworkError.addressInAnotherProcess(foreign)) { try fabric.addPort(id: 99, address: foreign) }
      // A freed address of its own is given out again.
      fabric.removePort(ports[0])
      #expect(try fabric.addPort(id: 100).address == ports[0].address)
    }
    #expect(given.count == 13 && given[Self.gateway] == nil, "every host address but the gateway's, once")
  }

  @Test("the hub sends a frame for a VM to the process owning its address, the rest of a process's to the host")
  func hubRouting() {
    let range = VirtualSwitch.Configuration(subnet: Self.subnet, gateway: Self.gateway).hostRange
    let deny = HubRouting(hostRange: range, gateway: Self.gateway, processes: 3, isolatesVMs: true, hasTap: true)
    let allow = HubRouting(hostRange: range, gateway: Self.gateway, processes: 3, isolatesVMs: false, hasTap: true)
    let host = MACAddress(0x02, 0xAA, 0, 0, 0, 1)
    let vm5 = IPv4Address(10, 2, 0, 5)  // offset 4: process 1
    let vm6 = IPv4Address(10, 2, 0, 6)  // offset 5: process 2
    let toVM5 = EthernetFrame(bytes: TestFrames.udp(from: host, Self.gateway, to: MACAddress(forVMAt: vm5), vm5))
    #expect(deny.route(toVM5, from: nil) == .trunk(1))
    let askVM6 = EthernetFrame(bytes: TestFrames.arpRequest(from: host, Self.gateway, asking: vm6))
    #expect(deny.route(askVM6, from: nil) == .trunk(2))
    // From the host: nothing but VMs; no broadcast goes anywhere else.
    let askOutside = EthernetFrame(
      bytes: TestFrames.arpRequest(from: host, Self.gateway, asking: IPv4Address(10, 2, 0, 15)))
    #expect(deny.route(askOutside, from: nil) == .drop(.notFlooded), "the subnet's broadcast address is no VM's")
    let elsewhere = MACAddress(0x02, 0xAA, 0, 0, 0, 2)
    let toElsewhere = EthernetFrame(bytes: TestFrames.udp(from: host, Self.gateway, to: elsewhere, Self.gateway))
    #expect(deny.route(toElsewhere, from: nil) == .drop(.unknownDestination))
    let toHost = EthernetFrame(bytes: TestFrames.udp(from: MACAddress(forVMAt: vm6), vm6, to: host, Self.gateway))
    // From process 2: the host and the gateway's ARP go to the TAP.
    #expect(deny.route(toHost, from: 2) == .tap)
    let vmAsksGateway = EthernetFrame(
      bytes: TestFrames.arpRequest(from: MACAddress(forVMAt: vm6), vm6, asking: Self.gateway))
    #expect(deny.route(vmAsksGateway, from: 2) == .tap)
    // From process 2 to process 1's VM: refused under deny, carried under allow; to its own part: no such VM.
    let sixToFive = EthernetFrame(
      bytes: TestFrames.udp(from: MACAddress(forVMAt: vm6), vm6, to: MACAddress(forVMAt: vm5), vm5))
    #expect(deny.route(sixToFive, from: 2) == .drop(.vmToVMDenied))
    #expect(allow.route(sixToFive, from: 2) == .trunk(1))
    let vm3 = IPv4Address(10, 2, 0, 3)  // offset 2: process 2's own part, but no such VM there
    let sixToThree = EthernetFrame(
      bytes: TestFrames.udp(from: MACAddress(forVMAt: vm6), vm6, to: MACAddress(forVMAt: vm3), vm3))
    #expect(allow.route(sixToThree, from: 2) == .drop(.unknownDestination))
    // Sources: a process sends only as its own VMs; the host never as a VM (MAC, ARP sender, IPv4 source).
    let posing = EthernetFrame(bytes: TestFrames.udp(from: MACAddress(forVMAt: vm5), vm5, to: host, Self.gateway))
    #expect(deny.route(posing, from: 2) == .drop(.spoofedSource), "process 2 sending as process 1's VM")
    let hostAsVM = EthernetFrame(bytes: TestFrames.udp(from: host, vm6, to: MACAddress(forVMAt: vm5), vm5))
    #expect(deny.route(hostAsVM, from: nil) == .drop(.spoofedSource), "an IPv4 source of the VMs' subnet")
    let hostMACAsVM = EthernetFrame(
      bytes: TestFrames.udp(from: MACAddress(forVMAt: vm6), Self.gateway, to: MACAddress(forVMAt: vm5), vm5))
    #expect(deny.route(hostMACAsVM, from: nil) == .drop(.spoofedSource), "a VM's MAC")
    let arpAsVM = EthernetFrame(bytes: TestFrames.arpRequest(from: host, vm6, asking: vm5))
    #expect(deny.route(arpAsVM, from: nil) == .drop(.spoofedSource), "an ARP sender of the VMs' subnet")
    // Short frames are counted, never parsed.
    #expect(deny.route(EthernetFrame(bytes: [1, 2, 3]), from: nil) == .drop(.malformed))
  }

  @Test("under deny a switch of a shared subnet refuses a frame for another process's VM itself, counted on the port")
  func isolationAtTheSwitch() throws {
    var configuration = Self.configuration(0, of: 3)
    configuration.isolatesVMs = true
    let fabric = VirtualSwitch(configuration: configuration)
    let uplink = FakeUplink()
    try fabric.attach(uplink: uplink)
    fabric.start()
    defer { fabric.stop() }
    let port = try fabric.addPort(id: 1)
    let other = IPv4Address(10, 2, 0, 5)  // process 1's
    _ = port.send(TestFrames.udp(from: port.mac, port.address, to: MACAddress(forVMAt: other), other))
    _ = port.send(TestFrames.arpRequest(from: port.mac, port.address, asking: other))
    _ = port.send(TestFrames.arpRequest(from: port.mac, port.address, asking: Self.gateway))
    #expect(fabric.settle(within: .seconds(10)))
    #expect(port.counters[.vmToVMDenied] == 2, "\(port.counters.summary)")
    #expect(uplink.transmitted.count == 1, "only the gateway's ARP request went up")
  }
}
