// NetworkOptions.swift: `denalid run`'s network flags, the switch they build, and the traffic report.
import ArgumentParser
import DenaliCore

/// `--network SUBNET`, `--tap NAME`, `--tap-address ADDRESS/PREFIX`, `--net-stats`.
struct NetworkOptions: ParsableArguments {
  @Option(
    name: .customLong("network"),
    help:
      "Give every VM a NIC on a virtual switch, with addresses from this subnet in order of creation (e.g. 10.0.0.0/16)."
  )
  var subnet: IPv4SubnetArgument?

  @Option(help: "Join the switch to the host through this TAP device (created if missing; needs CAP_NET_ADMIN).")
  var tap: String?

  @Option(help: "The host's address on the TAP device, the VMs' gateway (default: the subnet's first address).")
  var tapAddress: IPv4SubnetArgument?

  @Flag(help: "Print every VM's network counters at the end (packets and bytes in and out, drops by reason).")
  var netStats = false

  /// The VMs' subnet: --network, else the subnet of --tap-address.
  var effectiveSubnet: IPv4Subnet? {
    if let subnet { return subnet.subnet }
    guard let tapAddress else { return nil }
    return IPv4Subnet(address: tapAddress.subnet.network, prefixLength: tapAddress.subnet.prefixLength)
  }

  /// The host's address on the TAP device.
  var hostAddress: IPv4Subnet? {
    guard tap != nil, let subnet = effectiveSubnet else { return nil }
    if let tapAddress { return tapAddress.subnet }
    return IPv4Subnet(address: IPv4Address(value: subnet.network.value &+ 1), prefixLength: subnet.prefixLength)
  }

  func validate() throws {
    if tapAddress != nil && tap == nil { throw ValidationError("--tap-address needs --tap NAME") }
    if tap != nil && effectiveSubnet == nil { throw ValidationError("--tap needs --network SUBNET or --tap-address") }
    if let subnet = effectiveSubnet {
      guard subnet.prefixLength >= 8, subnet.prefixLength <= 30 else {
        throw ValidationError("--network: the prefix must be between /8 and /30")
      }
      if let host = hostAddress,
        !subnet.contains(host.address) || host.address == subnet.network
          || host.address == subnet.broadcast
      {
        throw ValidationError("--tap-address \(host) is not a host address of \(subnet)")
      }
    }
  }

  /// The switch for this run, started and with its uplink attached; nil without --network.
  func makeSwitch() throws(NetworkError) -> VirtualSwitch? {
    guard let subnet = effectiveSubnet else { return nil }
    let host = hostAddress
    let fabric = VirtualSwitch(configuration: .init(subnet: subnet, gateway: host?.address))
    if let tap, let host {
      let uplink = try TapUplink(
        name: tap, address: IPv4Subnet(address: host.address, prefixLength: subnet.prefixLength))
      try fabric.attach(uplink: uplink)
    }
    fabric.start()
    return fabric
  }

  /// Report lines: every VM's counters with --net-stats (and its swap-outs and swap-ins when the run swapped, so a
  /// VM woken from its swap file by a frame shows it), then the totals and the switch's own figures.
  /// Counters are read from the ports after the run (not the snapshot in each VM's report), so frames that
  /// arrived for a VM after it finished are counted too: queued, or dropped once its queue was full.
  func report(ports: [UInt64: NetworkPort], fabric: VirtualSwitch, accounting: [UInt64: VMAccounting] = [:]) -> [String]
  {
    let swapped = accounting.values.contains { $0.swapOuts > 0 }
    var lines: [String] = []
    var totals = NetworkCounters()
    var queued = 0
    for (id, port) in ports.sorted(by: { $0.key < $1.key }) {
      let counters = port.counters
      let waiting = port.receiveQueueLength
      totals.add(counters)
      queued += waiting
      if netStats {
        let swaps = swapped ? accounting[id].map { "; swapped out \($0.swapOuts), in \($0.swapIns)" } ?? "" : ""
        lines.append(
          "denalid: vm \(id) \(port.address) \(port.mac): \(counters.summary)"
            + (waiting > 0 ? ", \(waiting) still queued" : "") + swaps)
      }
    }
    let figures = fabric.statistics
    lines.append(
      "denalid: network: \(ports.count) NICs: \(totals.summary)" + (queued > 0 ? ", \(queued) still queued" : ""))
    var switchLine = "denalid: switch: forwarded \(figures.forwarded), ARP answered \(figures.arpAnswered)"
    if tap != nil { switchLine += "; uplink \(figures.uplink.summary)" }
    lines.append(switchLine)
    return lines
  }
}

/// An `a.b.c.d/n` value.
struct IPv4SubnetArgument: ExpressibleByArgument {
  /// The parsed subnet.
  let subnet: IPv4Subnet

  init?(argument: String) {
    guard let subnet = IPv4Subnet(argument) else { return nil }
    self.subnet = subnet
  }

  var defaultValueDescription: String { subnet.description }
}
