// ARPResponder.swift: the switch answers ARP requests for VM addresses itself, so nothing is ever flooded.

/// Answers "who has IP?" for the addresses the switch knows, on behalf of their VMs.
enum ARPResponder {
  /// The reply to `request` when `lookup` knows the MAC of its target address; nil when the message is
  /// not a request or the target is unknown (the switch then passes it to the uplink, or drops it).
  static func reply(to request: ARPMessage, lookup: (IPv4Address) -> MACAddress?) -> EthernetFrame? {
    guard request.operation == ARPMessage.request, let mac = lookup(request.targetIP) else { return nil }
    let answer = ARPMessage(
      operation: ARPMessage.reply, senderMAC: mac, senderIP: request.targetIP, targetMAC: request.senderMAC,
      targetIP: request.senderIP)
    return answer.frame(to: request.senderMAC)
  }
}
