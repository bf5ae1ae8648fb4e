// ForwardingDecision.swift: what the switch does with one frame: source checks, its own ARP answers, then
// layer-2 forwarding by destination MAC (VM to VM only when VMs are not kept apart). Pure: it reads the address
// tables and changes nothing.

/// Where a frame goes.
enum ForwardingDecision {
  /// Into this VM's receive queue.
  case deliver(NetworkPort)
  /// Out through the uplink.
  case uplink
  /// The switch answers the sender itself with this frame (an ARP reply).
  case answer(EthernetFrame)
  /// Nowhere, for this reason.
  case drop(DropReason)

  /// The address tables a decision reads.
  struct Tables {
    /// Ports by MAC.
    var byMAC: [MACAddress: NetworkPort]
    /// Ports by IPv4 address.
    var byIP: [IPv4Address: NetworkPort]
    /// Whether there is an uplink.
    var hasUplink: Bool
    /// Whether VMs are kept apart (a VM reaches only the uplink and itself).
    var isolatesVMs: Bool = false
    /// When the subnet is shared with other VM processes' switches (`AddressPartition`): its host addresses and
    /// gateway, so that a VM kept apart is refused here (and counted on its port) for another process's VM too.
    var sharedSubnet: (hostRange: ClosedRange<UInt32>, gateway: IPv4Address?)?

    /// Whether `address` is a VM address of the shared subnet that is not `port`'s own (false without one).
    func isVMInAnotherProcess(_ address: IPv4Address, besides port: NetworkPort) -> Bool {
      guard let shared = sharedSubnet else { return false }
      return shared.hostRange.contains(address.value) && address != shared.gateway && address != port.address
        && byIP[address] == nil
    }
  }

  /// Decides for `frame`, sent by the VM on `port`, or by the host when `port` is nil.
  static func decide(_ frame: EthernetFrame, from port: NetworkPort?, tables: Tables) -> ForwardingDecision {
    guard frame.hasValidLength, let source = frame.source, let destination = frame.destination,
      let etherType = frame.etherType
    else { return .drop(.malformed) }
    if let port {
      // A VM may send only as itself: its MAC, and its IPv4 address in IPv4 and ARP.
      guard source == port.mac else { return .drop(.spoofedSource) }
      switch etherType {
      case EthernetFrame.arp:
        guard let arp = frame.arp else { return .drop(.malformed) }
        guard arp.senderMAC == port.mac, arp.senderIP == port.address else { return .drop(.spoofedSource) }
        if arp.operation == ARPMessage.request {
          if tables.isolatesVMs, let target = tables.byIP[arp.targetIP], target !== port { return .drop(.vmToVMDenied) }
          if tables.isolatesVMs, tables.isVMInAnotherProcess(arp.targetIP, besides: port) {
            return .drop(.vmToVMDenied)
          }
          if let reply = ARPResponder.reply(to: arp, lookup: { tables.byIP[$0]?.mac }) { return .answer(reply) }
          return tables.hasUplink ? .uplink : .drop(.unknownDestination)
        }
      case EthernetFrame.ipv4:
        guard let address = frame.ipv4Source else { return .drop(.malformed) }
        guard address == port.address else { return .drop(.spoofedSource) }
      default:
        return .drop(.unsupportedProtocol)
      }
      if destination.isGroup { return tables.hasUplink ? .uplink : .drop(.notFlooded) }
      if let target = tables.byMAC[destination] {
        return tables.isolatesVMs && target !== port ? .drop(.vmToVMDenied) : .deliver(target)
      }
      if tables.isolatesVMs, destination.value >> 32 == 0x0200,
        tables.isVMInAnotherProcess(IPv4Address(value: UInt32(truncatingIfNeeded: destination.value)), besides: port)
      {
        return .drop(.vmToVMDenied)
      }
      return tables.hasUplink ? .uplink : .drop(.unknownDestination)
    }
    // From the host: it may not pose as a VM either.
    guard tables.byMAC[source] == nil else { return .drop(.spoofedSource) }
    if etherType == EthernetFrame.arp {
      guard let arp = frame.arp else { return .drop(.malformed) }
      guard tables.byIP[arp.senderIP] == nil, tables.byMAC[arp.senderMAC] == nil else { return .drop(.spoofedSource) }
      if arp.operation == ARPMessage.request {
        if let reply = ARPResponder.reply(to: arp, lookup: { tables.byIP[$0]?.mac }) { return .answer(reply) }
        return .drop(.unknownDestination)
      }
    } else if let address = frame.ipv4Source, tables.byIP[address] != nil {
      return .drop(.spoofedSource)
    }
    if destination.isGroup { return .drop(.notFlooded) }
    if let target = tables.byMAC[destination] { return .deliver(target) }
    return .drop(.unknownDestination)
  }
}
