// EngineNetwork.swift: the daemon's virtual network: the switch every VM's NIC is a port of, the TAP uplink to
// the host, and the address allocation the API sees (errors that name the configuration key at fault).
import ControlAPI
import DenaliCore

/// How the daemon's network is set up (`network`, `uplink`, `uplink-address` and `vm-to-vm` in denalid.conf).
public struct EngineNetworkConfiguration: Sendable, Equatable {
  /// The TAP device joining the switch to the host.
  public struct Uplink: Sendable, Equatable {
    /// The TAP device's name (created at start if missing).
    public var tapName: String
    /// The host's address on it, with the subnet's prefix: the VMs' gateway.
    public var address: IPv4Subnet

    /// A TAP uplink `tapName` whose host side has `address`.
    public init(tapName: String, address: IPv4Subnet) {
      self.tapName = tapName
      self.address = address
    }
  }

  /// The VMs' subnet.
  public var subnet: IPv4Subnet
  /// The uplink, nil for none (VMs then reach only each other, if allowed).
  public var uplink: Uplink?
  /// `vm-to-vm = deny`: the switch drops (and counts) every frame from one VM to another.
  public var isolatesVMs: Bool
  /// Frames each VM's receive queue holds (`receive-queue`).
  public var receiveQueueFrames: Int
  /// Bytes of frames all VMs' receive queues hold together (`receive-memory`).
  public var receiveMemoryBytes: Int
  /// In a VM process of a daemon with several: this process's part of the subnet's addresses.
  public var partition: AddressPartition?
  /// In a VM process of a daemon with several: the packet socket to the daemon's hub, which is then this
  /// switch's uplink (the daemon keeps the TAP device, and carries frames to it and to the other processes).
  public var trunkDescriptor: Int32?

  /// Settings for `subnet`.
  public init(
    subnet: IPv4Subnet, uplink: Uplink?, isolatesVMs: Bool,
    receiveQueueFrames: Int = NetworkPort.Limits.defaultReceiveFrames,
    receiveMemoryBytes: Int = VirtualSwitch.Configuration.defaultReceiveMemoryBytes
  ) {
    self.subnet = subnet
    self.uplink = uplink
    self.isolatesVMs = isolatesVMs
    self.receiveQueueFrames = receiveQueueFrames
    self.receiveMemoryBytes = receiveMemoryBytes
  }
}

/// The switch and its uplink. The TAP device is created (and given its address) when this is made, before the
/// daemon drops its capabilities; the switch's and the uplink's threads start in `start()`, after.
final class EngineNetwork: Sendable {
  /// The settings.
  let configuration: EngineNetworkConfiguration
  /// The switch.
  let fabric: VirtualSwitch
  /// The uplink: the TAP device, or in a VM process the trunk to the daemon's hub; nil for none.
  private let uplink: (any NetworkUplink)?

  /// Creates the switch and the TAP device (needs CAP_NET_ADMIN when there is an uplink).
  init(configuration: EngineNetworkConfiguration) throws(NetworkError) {
    self.configuration = configuration
    fabric = VirtualSwitch(
      configuration: .init(
        subnet: configuration.subnet, gateway: configuration.uplink?.address.address,
        limits: NetworkPort.Limits(receiveFrames: configuration.receiveQueueFrames),
        isolatesVMs: configuration.isolatesVMs, receiveMemoryBytes: configuration.receiveMemoryBytes,
        partition: configuration.partition))
    if let trunk = configuration.trunkDescriptor {
      uplink = try DescriptorUplink(descriptor: trunk, name: "denali-trunk", nonBlocking: true)
    } else {
      uplink = try configuration.uplink.map { (link) throws(NetworkError) -> TapUplink in
        try TapUplink(name: link.tapName, address: link.address)
      }
    }
  }

  /// Starts the uplink's reader and the switch's thread.
  func start() throws(NetworkError) {
    if let uplink { try fabric.attach(uplink: uplink) }
    fabric.start()
  }

  /// Stops the switch's thread and the uplink's reader.
  func stop() { fabric.stop() }

  /// A port for new VM `id`: at `requested` (a dotted quad from the request) or at the next free address.
  func allocate(id: UInt64, requested: String?) throws(ControlBackendError) -> NetworkPort {
    do {
      guard let requested else { return try fabric.addPort(id: id) }
      guard let address = IPv4Address(requested) else {
        throw ControlBackendError.invalid("network.address '\(requested)' is not an IPv4 address")
      }
      return try fabric.addPort(id: id, address: address)
    } catch let error as NetworkError {
      throw Self.refusal(error, configuration: configuration)
    } catch let error as ControlBackendError {
      throw error
    } catch {
      throw .hostError("\(error)")
    }
  }

  /// The port VM `id` had before a restart, at `address`.
  func restore(id: UInt64, address: IPv4Address) throws(NetworkError) -> NetworkPort {
    try fabric.addPort(id: id, address: address)
  }

  /// Frees `port`'s address (a no-op for a port already removed).
  func release(_ port: NetworkPort) { fabric.removePort(port) }

  /// The network's settings and figures.
  func statistics() -> NetworkStatistics {
    let figures = fabric.statistics
    let inUse = fabric.portCount
    return NetworkStatistics(
      subnet: configuration.subnet.description, gateway: configuration.uplink?.address.address.description,
      uplink: configuration.uplink.map { "tap \($0.tapName)" }, vmToVM: configuration.isolatesVMs ? "deny" : "allow",
      addressesInUse: inUse, addressesFree: max(0, fabric.configuration.assignableAddressCount - inUse),
      forwardedTotal: figures.forwarded, arpAnsweredTotal: figures.arpAnswered,
      uplinkPacketsIn: figures.uplink.packetsIn, uplinkBytesIn: figures.uplink.bytesIn,
      uplinkPacketsOut: figures.uplink.packetsOut, uplinkBytesOut: figures.uplink.bytesOut,
      uplinkDrops: figures.uplink.dropsByName)
  }

  /// How the API reports an address the switch refused: a full subnet or a taken address is a 409 (it may work
  /// later), an address no VM can ever have here a 422; each names the configuration key involved.
  static func refusal(_ error: NetworkError, configuration: EngineNetworkConfiguration) -> ControlBackendError {
    switch error {
    case .addressesExhausted(let subnet):
      .limitReached("no free address left in \(subnet) (network): every address is held by a live VM")
    case .addressInUse(let address, let id):
      .conflict("address \(address) is already in use by vm \(id)")
    case .addressIsGateway(let address):
      .invalid("address \(address) is the uplink's (uplink-address): the VMs' gateway, never a VM's")
    case .addressOutsideSubnet(let address, let subnet):
      .invalid("address \(address) is outside this daemon's network \(subnet) (network)")
    case .addressNotHost:
      .invalid("\(error) (network): not a host address")
    case .addressInAnotherProcess:
      .hostError("network: \(error) (the daemon routes a requested address to its process)")
    case .duplicatePort, .invalidInterfaceName, .system:
      .hostError("network: \(error)")
    }
  }
}

/// What the API says to a request for a NIC on a daemon without a network.
let networkNotConfigured = ControlBackendError.invalid(
  "this daemon has no virtual network: set `network = SUBNET` (and `uplink = tap NAME` to reach the host) in its configuration file, Config/denalid.conf, to give VMs NICs"
)
