// NetworkMetrics.swift: the Prometheus series of the virtual network: the switch's, and each VM's NIC labelled
// by VM.

/// Renders network figures in the Prometheus text format (0.0.4).
enum NetworkMetrics {
  /// The switch's series: addresses, forwarding, the uplink's traffic and drops.
  static func render(_ network: NetworkStatistics) -> String {
    var text = ""
    func series(_ name: String, _ type: String, _ help: String, _ values: [(labels: String, value: String)]) {
      text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
      for (labels, value) in values { text += "\(name)\(labels) \(value)\n" }
    }
    series("denali_network_addresses_in_use", "gauge", "Addresses held by VMs.", [("", "\(network.addressesInUse)")])
    series(
      "denali_network_addresses_free", "gauge", "Addresses still free for new VMs.", [("", "\(network.addressesFree)")])
    series(
      "denali_network_forwarded_total", "counter", "Frames the switch delivered or sent up the uplink.",
      [("", "\(network.forwardedTotal)")])
    series(
      "denali_network_arp_answered_total", "counter", "ARP requests the switch answered itself.",
      [("", "\(network.arpAnsweredTotal)")])
    series(
      "denali_network_uplink_packets_total", "counter", "Frames through the uplink, by direction (in: from the host).",
      [("{direction=\"in\"}", "\(network.uplinkPacketsIn)"), ("{direction=\"out\"}", "\(network.uplinkPacketsOut)")])
    series(
      "denali_network_uplink_bytes_total", "counter", "Bytes through the uplink, by direction (in: from the host).",
      [("{direction=\"in\"}", "\(network.uplinkBytesIn)"), ("{direction=\"out\"}", "\(network.uplinkBytesOut)")])
    series(
      "denali_network_uplink_drops_total", "counter",
      "Frames from the host dropped, and failed writes to it, by reason.",
      network.uplinkDrops.sorted { $0.key < $1.key }.map { ("{reason=\"\(escaped($0.key))\"}", "\($0.value)") })
    return text
  }

  /// Per-VM series, labelled `vm` (the id), `name` (empty for none) and `address`.
  static func render(_ vms: [VMInfo]) -> String {
    guard !vms.isEmpty else { return "" }
    var text = ""
    func series(_ name: String, _ type: String, _ help: String, _ value: (VMNetworkInfo) -> [(String, String)]) {
      text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
      for vm in vms {
        guard let network = vm.network else { continue }
        let labels = "vm=\"\(vm.id)\",name=\"\(escaped(vm.name ?? ""))\",address=\"\(escaped(vm.address ?? ""))\""
        for (extra, number) in value(network) { text += "\(name){\(labels)\(extra)} \(number)\n" }
      }
    }
    series("denali_vm_network_packets_total", "counter", "Frames a VM's NIC received (in) and sent (out).") {
      [(",direction=\"in\"", "\($0.packetsIn)"), (",direction=\"out\"", "\($0.packetsOut)")]
    }
    series("denali_vm_network_bytes_total", "counter", "Bytes a VM's NIC received (in) and sent (out).") {
      [(",direction=\"in\"", "\($0.bytesIn)"), (",direction=\"out\"", "\($0.bytesOut)")]
    }
    series("denali_vm_network_drops_total", "counter", "Frames to or from a VM dropped by the switch, by reason.") {
      network in
      network.drops.sorted { $0.key < $1.key }.map { (",reason=\"\(escaped($0.key))\"", "\($0.value)") }
    }
    series("denali_vm_network_queued_frames", "gauge", "Frames waiting in a VM's receive queue.") {
      [("", "\($0.queuedFrames)")]
    }
    return text
  }

  /// A label value with backslash, double quote and newline escaped, as the text format requires.
  static func escaped(_ value: String) -> String {
    var result = ""
    for character in value {
      switch character {
      case "\\": result += "\\\\"
      case "\"": result += "\\\""
      case "\n": result += "\\n"
      default: result.append(character)
      }
    }
    return result
  }
}
