// NetworkError.swift: what can go wrong setting up the virtual network (never because of a guest).
import Glibc
import SystemCalls

/// A failure to configure the switch or its uplink.
public enum NetworkError: Error, Equatable, Sendable, CustomStringConvertible {
  /// Every host address of the subnet is taken.
  case addressesExhausted(IPv4Subnet)
  /// The address is already the VM's whose port has this id.
  case addressInUse(IPv4Address, byPort: UInt64)
  /// The address is the uplink's (the host's side, the VMs' gateway).
  case addressIsGateway(IPv4Address)
  /// The address is not in the switch's subnet.
  case addressOutsideSubnet(IPv4Address, IPv4Subnet)
  /// The address is the subnet's network or broadcast address.
  case addressNotHost(IPv4Address, IPv4Subnet)
  /// A port with this id exists already.
  case duplicatePort(UInt64)
  /// The address belongs to another VM process's part of the subnet (`AddressPartition`).
  case addressInAnotherProcess(IPv4Address)
  /// An interface name longer than 15 bytes, empty, or with a '/' or NUL.
  case invalidInterfaceName(String)
  /// A system call on the TAP device failed.
  case system(SystemCallError)

  /// One line for the operator.
  public var description: String {
    switch self {
    case .addressesExhausted(let subnet): "no free address left in \(subnet)"
    case .addressInUse(let address, let id): "address \(address) is already in use by vm \(id)"
    case .addressIsGateway(let address): "address \(address) is the uplink's, the VMs' gateway"
    case .addressOutsideSubnet(let address, let subnet): "address \(address) is outside \(subnet)"
    case .addressNotHost(let address, let subnet):
      "address \(address) is the \(address == subnet.network ? "network" : "broadcast") address of \(subnet)"
    case .duplicatePort(let id): "a port for VM \(id) exists already"
    case .addressInAnotherProcess(let address): "address \(address) belongs to another VM process's part of the subnet"
    case .invalidInterfaceName(let name): "invalid interface name \"\(name)\" (1-15 bytes, no '/')"
    case .system(let failure): failure.description
    }
  }
}
