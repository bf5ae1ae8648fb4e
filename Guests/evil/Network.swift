// Network.swift: the evil guest's attacks on the virtual NIC and switch (spoofing, garbage, bad arguments).
import Ilwaco

extension Evil {
  /// The network cases, in the order of `cases`.
  static let networkCases: [StaticString] = [
    "net-spoof", "net-garbage", "net-oversize", "net-undersize", "net-buffer-outside", "net-recv-outside",
    "net-recv-empty", "net-none", "net-arp-self",
  ]

  /// Runs network case `name`; nil when `name` is not one.
  static func networkCase(_ name: String, outside: UInt64, arguments: Arguments) -> Int32? {
    let frame = scratch(1600)
    frame.initializeMemory(as: UInt8.self, repeating: 0, count: 1600)
    switch name {
    case "net-spoof":
      // 30 frames to the next VM (own address + 1): 10 with its MAC as source, 10 with its IPv4 address as
      // source, 10 ARP replies claiming its address. The switch takes each (ret 60) and drops it, counted.
      let own = NetworkInterface.address
      let victim = own.advanced(by: 1)
      let victimMAC = macFor(victim)
      var last: Int64 = 0
      for kind in 0..<3 {
        for _ in 0..<10 {
          if kind == 2 {
            // An ARP reply claiming the victim's address is at this VM's MAC.
            buildARP(
              frame, operation: 2, to: victimMAC, from: NetworkInterface.mac, sender: victim,
              targetMAC: victimMAC, target: victim)
          } else {
            buildUDP(
              frame, to: victimMAC, from: kind == 0 ? victimMAC : NetworkInterface.mac,
              source: kind == 0 ? own : victim, destination: victim)
          }
          last = NetworkInterface.send(frame, length: 60)
        }
      }
      return report(name, last)
    case "net-garbage":
      // 10 frames of an unsupported EtherType (IPv6) and 10 IPv4 frames too short for an IPv4 header.
      var last: Int64 = 0
      for index in 0..<20 {
        storeMAC(macFor(NetworkInterface.address.advanced(by: 1)), frame, at: 0)
        storeMAC(NetworkInterface.mac, frame, at: 6)
        frame.storeBytes(
          of: index < 10 ? UInt16(0x86DD).bigEndian : UInt16(0x0800).bigEndian, toByteOffset: 12, as: UInt16.self)
        last = NetworkInterface.send(frame, length: index < 10 ? 60 : 20)
      }
      return report(name, last)
    case "net-oversize": return report(name, NetworkInterface.send(frame, length: 1515))  // ret -90
    case "net-undersize": return report(name, NetworkInterface.send(frame, length: 13))  // ret -90
    case "net-buffer-outside":  // ret -14
      return report(name, ilwaco_hc_net_send(UnsafeRawPointer(bitPattern: UInt(outside)), 64))
    case "net-recv-outside":  // ret -14
      return report(name, ilwaco_hc_net_recv(UnsafeMutableRawPointer(bitPattern: UInt(outside)), 1514))
    case "net-recv-empty": return report(name, NetworkInterface.receive(into: frame, capacity: 1514))  // ret -11
    case "net-none": return report(name, NetworkInterface.send(frame, length: 60))  // no NIC: ret -19
    case "net-arp-self":
      // COUNT (second argument, default 100,000) ARP requests for its own address, each answered by the
      // switch into an empty receive queue, so each one raises the receive interrupt on the switch thread
      // and wakes this VM from an idle. ret = replies received (COUNT when none was dropped).
      guard let count = arguments.unsignedInteger(at: 1, default: 100_000) else { return usage() }
      let own = NetworkInterface.address
      buildARP(
        frame, operation: 1, to: 0xFFFF_FFFF_FFFF, from: NetworkInterface.mac, sender: own, targetMAC: 0, target: own)
      let reply = scratch(1600)
      var replies: Int64 = 0
      for _ in 0..<count {
        guard NetworkInterface.send(frame, length: 60) == 60 else { return report(name, -1) }
        _ = idle(timeoutNanoseconds: 1_000_000_000)
        while NetworkInterface.receive(into: reply, capacity: 1600) > 0 { replies += 1 }
      }
      return report(name, replies)
    default: return nil
    }
  }

  /// The MAC the switch gives the VM at `address`: 02:00 and the address, as loaded little-endian.
  static func macFor(_ address: IPv4Address) -> UInt64 {
    0x02 | UInt64(address.value.bigEndian) << 16
  }

  static func storeMAC(_ value: UInt64, _ frame: UnsafeMutableRawPointer, at offset: Int) {
    frame.storeBytes(of: UInt32(truncatingIfNeeded: value), toByteOffset: offset, as: UInt32.self)
    frame.storeBytes(of: UInt16(truncatingIfNeeded: value >> 32), toByteOffset: offset + 4, as: UInt16.self)
  }

  /// A 60-byte IPv4/UDP frame (no checksums needed: the switch looks at addresses only).
  static func buildUDP(
    _ frame: UnsafeMutableRawPointer, to mac: UInt64, from sourceMAC: UInt64, source: IPv4Address,
    destination: IPv4Address
  ) {
    storeMAC(mac, frame, at: 0)
    storeMAC(sourceMAC, frame, at: 6)
    frame.storeBytes(of: UInt16(0x0800).bigEndian, toByteOffset: 12, as: UInt16.self)
    frame.storeBytes(of: UInt16(0x0045), toByteOffset: 14, as: UInt16.self)
    frame.storeBytes(of: UInt16(46).bigEndian, toByteOffset: 16, as: UInt16.self)
    frame.storeBytes(of: UInt16(0x1140), toByteOffset: 22, as: UInt16.self)
    frame.storeBytes(of: source.value.bigEndian, toByteOffset: 26, as: UInt32.self)
    frame.storeBytes(of: destination.value.bigEndian, toByteOffset: 30, as: UInt32.self)
    frame.storeBytes(of: UInt16(7).bigEndian, toByteOffset: 36, as: UInt16.self)
    frame.storeBytes(of: UInt16(26).bigEndian, toByteOffset: 38, as: UInt16.self)
  }

  /// A 60-byte ARP message (operation 1 request, 2 reply) to `mac`, from `hardware` saying it has `sender`,
  /// about `targetMAC`/`target`.
  static func buildARP(
    _ frame: UnsafeMutableRawPointer, operation: UInt16, to mac: UInt64, from hardware: UInt64, sender: IPv4Address,
    targetMAC: UInt64, target: IPv4Address
  ) {
    storeMAC(mac, frame, at: 0)
    storeMAC(hardware, frame, at: 6)
    frame.storeBytes(of: UInt16(0x0806).bigEndian, toByteOffset: 12, as: UInt16.self)
    frame.storeBytes(of: UInt32(0x0008_0100), toByteOffset: 14, as: UInt32.self)
    frame.storeBytes(of: UInt16(0x0406), toByteOffset: 18, as: UInt16.self)
    frame.storeBytes(of: operation.bigEndian, toByteOffset: 20, as: UInt16.self)
    storeMAC(hardware, frame, at: 22)
    frame.storeBytes(of: sender.value.bigEndian, toByteOffset: 28, as: UInt32.self)
    storeMAC(targetMAC, frame, at: 32)
    frame.storeBytes(of: target.value.bigEndian, toByteOffset: 38, as: UInt32.self)
  }
}
