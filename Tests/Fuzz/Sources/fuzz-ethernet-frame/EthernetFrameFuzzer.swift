// EthernetFrameFuzzer.swift: libFuzzer harness for the switch's frame parsing: any bytes as a frame from a VM and
// from the host go through the forwarding decision (source checks, ARP answers, forwarding by MAC).
import DenaliCore
import FuzzSupport

@testable import DenaliCore

/// A switch (never started) with two VMs, 10.0.0.1 and 10.0.0.2, whose address tables the decision reads.
let fabric = VirtualSwitch(
  configuration: .init(subnet: IPv4Subnet(address: IPv4Address(10, 0, 0, 0), prefixLength: 24)))
let ports: [NetworkPort] = {
  do {
    return [try fabric.addPort(id: 1), try fabric.addPort(id: 2)]
  } catch {
    fatalError("cannot add ports: \(error)")
  }
}()
let tables = ForwardingDecision.Tables(
  byMAC: Dictionary(uniqueKeysWithValues: ports.map { ($0.mac, $0) }),
  byIP: Dictionary(uniqueKeysWithValues: ports.map { ($0.address, $0) }), hasUplink: true)

/// An ARP request from the first VM for the second.
func seeds() -> [[UInt8]] {
  let request = ARPMessage(
    operation: ARPMessage.request, senderMAC: ports[0].mac, senderIP: ports[0].address,
    targetMAC: MACAddress(value: 0), targetIP: ports[1].address)
  var padded = request.frame(to: MACAddress(value: 0xFFFF_FFFF_FFFF)).bytes
  padded += [UInt8](repeating: 0, count: max(0, EthernetFrame.minimumLength - padded.count))
  var ipv4 = [UInt8](repeating: 0, count: 64)
  ports[0].mac.store(into: &ipv4, at: 6)
  ports[1].mac.store(into: &ipv4, at: 0)
  ipv4[12] = 0x08
  ipv4[14] = 0x45
  ports[0].address.store(into: &ipv4, at: 26)
  ports[1].address.store(into: &ipv4, at: 30)
  return [padded, ipv4]
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEthernetFrame(_ input: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard let data = input else { return 0 }
  FuzzSupport.writeSeedsIfAsked(seeds)
  let frame = EthernetFrame(bytes: Array(UnsafeBufferPointer(start: data, count: size)))
  for port in [ports[0], nil] {
    if case .answer(let reply) = ForwardingDecision.decide(frame, from: port, tables: tables) {
      guard reply.hasValidLength || reply.length == 42 else { fatalError("an ARP answer of \(reply.length) bytes") }
    }
  }
  _ = frame.arp
  _ = frame.ipv4Source
  return 0
}

/// The harness's entry point: libFuzzer's driver.
@main
enum FuzzEthernetFrameHarness {
  static func main() { FuzzSupport.run(fuzzEthernetFrame) }
}
