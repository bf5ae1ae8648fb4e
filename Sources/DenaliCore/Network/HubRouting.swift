// HubRouting.swift: where the daemon's hub sends a frame when a network's VMs live in several VM processes:
// to the process whose switch holds the VM it is for (the VM's address, and so its MAC, names the process), or to
// the TAP uplink. Pure: it reads only the frame and the settings.

/// Where the hub sends one frame.
public enum HubRoute: Equatable, Sendable {
  /// To the host, through the TAP uplink.
  case tap
  /// To VM process `index`'s switch.
  case trunk(Int)
  /// Nowhere, for this reason.
  case drop(DropReason)
}

/// The hub's rules: a frame for a VM (its MAC, or an ARP request for its address) goes to the process owning the
/// VM's address; anything else from a VM process goes to the host. The host reaches only VMs. A VM process
/// reaches another only when VMs may talk to each other (`isolatesVMs` false); a frame a VM process sends for
/// one of its own addresses is for a VM that does not exist (its switch would have delivered it).
///
/// Sources are checked as a switch checks them, with the whole subnet in view: a frame from a VM process must come
/// from one of that process's VM MACs (its switch sends nothing else up), and a frame from the host may not use a
/// VM's MAC or a VM address of the subnet as its ARP sender or IPv4 source (a receiving switch knows only its own
/// VMs, so without this the host side could pose as another process's VM).
public struct HubRouting: Sendable {
  /// The subnet's host addresses (as the switches see them).
  public let hostRange: ClosedRange<UInt32>
  /// The TAP uplink's address (the VMs' gateway), which no VM has.
  public let gateway: IPv4Address?
  /// VM processes sharing the subnet (`AddressPartition`).
  public let processes: Int
  /// `vm-to-vm = deny`.
  public let isolatesVMs: Bool
  /// Whether there is a TAP uplink.
  public let hasTap: Bool

  /// Rules for `processes` switches sharing the host addresses `hostRange`.
  public init(hostRange: ClosedRange<UInt32>, gateway: IPv4Address?, processes: Int, isolatesVMs: Bool, hasTap: Bool) {
    self.hostRange = hostRange
    self.gateway = gateway
    self.processes = max(1, processes)
    self.isolatesVMs = isolatesVMs
    self.hasTap = hasTap
  }

  /// Where `frame` goes, coming from VM process `source` (nil: from the host).
  public func route(_ frame: EthernetFrame, from source: Int?) -> HubRoute {
    guard frame.hasValidLength, let destination = frame.destination, frame.etherType != nil else {
      return .drop(.malformed)
    }
    let vm: Int?
    if destination.isGroup {
      // Only an ARP request is worth anything to a VM; it goes to the one process that can answer it.
      if frame.etherType == EthernetFrame.arp, let arp = frame.arp, arp.operation == ARPMessage.request {
        vm = owner(of: arp.targetIP)
      } else {
        vm = nil
      }
    } else {
      vm = Self.vmAddress(of: destination).flatMap(owner(of:))
    }
    guard let source else {
      if posesAsVM(frame) { return .drop(.spoofedSource) }
      if let vm { return .trunk(vm) }
      return .drop(destination.isGroup ? .notFlooded : .unknownDestination)
    }
    guard let sender = frame.source, let address = Self.vmAddress(of: sender), owner(of: address) == source else {
      return .drop(.spoofedSource)
    }
    if let vm {
      if vm == source { return .drop(.unknownDestination) }
      return isolatesVMs ? .drop(.vmToVMDenied) : .trunk(vm)
    }
    return hasTap ? .tap : .drop(.unknownDestination)
  }

  /// Whether a frame from the host uses a VM's MAC, or a VM address of the subnet as its ARP sender or IPv4 source.
  private func posesAsVM(_ frame: EthernetFrame) -> Bool {
    if let sender = frame.source, let address = Self.vmAddress(of: sender), owner(of: address) != nil { return true }
    if frame.etherType == EthernetFrame.arp, let arp = frame.arp {
      return owner(of: arp.senderIP) != nil || Self.vmAddress(of: arp.senderMAC).flatMap(owner(of:)) != nil
    }
    if let address = frame.ipv4Source { return owner(of: address) != nil }
    return false
  }

  /// The address a VM MAC is made from (`MACAddress(forVMAt:)`); nil for any other MAC.
  static func vmAddress(of mac: MACAddress) -> IPv4Address? {
    mac.value >> 32 == 0x0200 ? IPv4Address(value: UInt32(truncatingIfNeeded: mac.value)) : nil
  }

  /// The process owning VM address `address`; nil for an address no VM can have (outside the host range, or
  /// the gateway's).
  public func owner(of address: IPv4Address) -> Int? {
    guard hostRange.contains(address.value), address != gateway else { return nil }
    return AddressPartition.owner(of: address.value, firstHost: hostRange.lowerBound, count: processes)
  }
}
