// SwitchAddressAllocationTests.swift: how the switch hands out addresses: in order after the last one given, again
// from the start once the subnet's end is reached (so freed addresses are reused, as late as possible), never the
// gateway's, the network's or the broadcast address, and a full subnet refused at once.
import Testing

@testable import DenaliCore

@Suite("VirtualSwitch address allocation")
struct SwitchAddressAllocationTests {
  /// 10.1.0.0/29: host addresses .1 to .6; the gateway takes .1.
  static let configuration = VirtualSwitch.Configuration(
    subnet: IPv4Subnet(address: IPv4Address(10, 1, 0, 0), prefixLength: 29), gateway: IPv4Address(10, 1, 0, 1))

  @Test("addresses come in order, skip the gateway, wrap around to freed ones, and a full subnet is refused")
  func wrapAround() throws {
    let fabric = VirtualSwitch(configuration: Self.configuration)
    #expect(Self.configuration.assignableAddressCount == 5)
    let ports = try (1...5).map { try fabric.addPort(id: UInt64($0)) }
    #expect(ports.map(\.address.description) == ["10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6"])
    #expect(throws: NetworkError.addressesExhausted(Self.configuration.subnet)) { try fabric.addPort(id: 6) }
    // Before the fix the cursor stopped at the end of the subnet: a freed address was never handed out again.
    fabric.removePort(ports[1])
    fabric.removePort(ports[3])
    #expect(try fabric.addPort(id: 7).address == IPv4Address(10, 1, 0, 3))
    #expect(try fabric.addPort(id: 8).address == IPv4Address(10, 1, 0, 5))
    #expect(throws: NetworkError.addressesExhausted(Self.configuration.subnet)) { try fabric.addPort(id: 9) }
    // The cursor goes on from the last address given (.5): .6 comes before .4, whatever order they were freed in.
    fabric.removePort(ports[4])
    fabric.removePort(ports[2])
    #expect(try fabric.addPort(id: 10).address == IPv4Address(10, 1, 0, 6))
    #expect(try fabric.addPort(id: 11).address == IPv4Address(10, 1, 0, 4))
  }

  @Test("an address asked for must be a free host address of the subnet, and not the gateway's")
  func explicitAddresses() throws {
    let fabric = VirtualSwitch(configuration: Self.configuration)
    let subnet = Self.configuration.subnet
    #expect(try fabric.addPort(id: 1, address: IPv4Address(10, 1, 0, 5)).address == IPv4Address(10, 1, 0, 5))
    #expect(throws: NetworkError.addressInUse(IPv4Address(10, 1, 0, 5), byPort: 1)) {
      try fabric.addPort(id: 2, address: IPv4Address(10, 1, 0, 5))
    }
    #expect(throws: NetworkError.addressIsGateway(IPv4Address(10, 1, 0, 1))) {
      try fabric.addPort(id: 2, address: IPv4Address(10, 1, 0, 1))
    }
    #expect(throws: NetworkError.addressNotHost(IPv4Address(10, 1, 0, 0), subnet)) {
      try fabric.addPort(id: 2, address: IPv4Address(10, 1, 0, 0))
    }
    #expect(throws: NetworkError.addressNotHost(IPv4Address(10, 1, 0, 7), subnet)) {
      try fabric.addPort(id: 2, address: IPv4Address(10, 1, 0, 7))
    }
    #expect(throws: NetworkError.addressOutsideSubnet(IPv4Address(10, 1, 0, 8), subnet)) {
      try fabric.addPort(id: 2, address: IPv4Address(10, 1, 0, 8))
    }
    #expect(fabric.portCount == 1, "nothing refused was added")
    // Automatic allocation steps around the address taken by hand.
    #expect(
      try (2...5).map { try fabric.addPort(id: UInt64($0)).address.description }
        == ["10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.6"])
  }

  @Test("assignable addresses: a /30 holds two VMs, a /8 2^24 - 2")
  func assignableCounts() throws {
    let fabric = VirtualSwitch(
      configuration: .init(subnet: IPv4Subnet(address: IPv4Address(10, 2, 0, 0), prefixLength: 30)))
    _ = try fabric.addPort(id: 1)
    _ = try fabric.addPort(id: 2)
    #expect(throws: NetworkError.self) { try fabric.addPort(id: 3) }
    let large = VirtualSwitch.Configuration(subnet: IPv4Subnet(address: IPv4Address(10, 0, 0, 0), prefixLength: 8))
    #expect(large.assignableAddressCount == (1 << 24) - 2)
  }
}
