// ControlMetrics.swift: the Prometheus text exposition of GET /v1/metrics: daemon figures plus a registry.
import Prometheus

/// Renders metrics: the engine's `DaemonStatistics` as `denali_*` series, followed by everything in the
/// Prometheus registry (the API's own counters, and whatever the daemon registers through swift-metrics).
public final class ControlMetrics: Sendable {
  /// The registry the API's own counters live in; the daemon may bootstrap swift-metrics with it.
  public let registry: PrometheusCollectorRegistry

  /// Metrics over `registry`.
  public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
    self.registry = registry
  }

  /// Counts one answered request.
  public func countRequest(route: String, status: Int) {
    registry.makeCounter(descriptor: Self.requests, labels: [("route", route), ("status", String(status))]).increment()
  }

  /// Counts one connection refused by the peer-credential check.
  public func countRefusedPeer() {
    registry.makeCounter(descriptor: Self.refusedConnections).increment()
  }

  private static var requests: MetricNameDescriptor {
    MetricNameDescriptor(
      namespace: "denali", subsystem: "api", metricName: "requests", unitName: "total",
      helpText: "Control API requests answered, by route and HTTP status.")
  }
  private static var refusedConnections: MetricNameDescriptor {
    MetricNameDescriptor(
      namespace: "denali", subsystem: "api", metricName: "refused_connections", unitName: "total",
      helpText: "Connections refused by the peer-credential check.")
  }

  /// The full exposition for `statistics`, with per-VM network series for every VM in `vms` that has a NIC.
  public func render(_ statistics: DaemonStatistics, vms: [VMInfo] = []) -> [UInt8] {
    var text = ""
    func series(_ name: String, _ type: String, _ help: String, _ values: [(labels: String, value: String)]) {
      text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
      for (labels, value) in values { text += "\(name)\(labels) \(value)\n" }
    }
    func one(_ name: String, _ type: String, _ help: String, _ value: String) {
      series(name, type, help, [("", value)])
    }
    one("denali_uptime_seconds", "gauge", "Seconds since the daemon started.", "\(statistics.uptimeSeconds)")
    series(
      "denali_vms", "gauge", "VMs the daemon keeps, by state.",
      VMStateKind.allCases.map { ("{state=\"\($0.rawValue)\"}", "\(statistics.vmsByState[$0] ?? 0)") })
    one("denali_vms_created_total", "counter", "VMs created since the daemon started.", "\(statistics.vmsCreatedTotal)")
    one(
      "denali_memory_budget_bytes", "gauge", "The gatekeeper's memory budget for resident guests.",
      "\(statistics.memoryBudgetBytes)")
    one(
      "denali_memory_admitted_bytes", "gauge", "Guest memory of resident VMs (configured sizes).",
      "\(statistics.memoryAdmittedBytes)")
    one(
      "denali_memory_resident_bytes", "gauge", "Host memory resident guests occupy.",
      "\(statistics.memoryResidentBytes)")
    one("denali_swap_bytes", "gauge", "Bytes in swap files.", "\(statistics.swapBytes)")
    one("denali_swap_outs_total", "counter", "Whole-VM swap-outs.", "\(statistics.swapOutsTotal)")
    one("denali_swap_ins_total", "counter", "Whole-VM swap-ins.", "\(statistics.swapInsTotal)")
    one(
      "denali_cpu_seconds_total", "counter", "CPU time all VMs used.",
      "\(Double(statistics.cpuTimeNanosecondsTotal) / 1e9)")
    one("denali_exits_total", "counter", "VM exits to the host.", "\(statistics.exitsTotal)")
    one("denali_hypercalls_total", "counter", "Hypercalls made by guests.", "\(statistics.hypercallsTotal)")
    one("denali_workers", "gauge", "Worker threads running vCPUs.", "\(statistics.workers)")
    if let network = statistics.network { text += NetworkMetrics.render(network) }
    text += NetworkMetrics.render(vms.filter { $0.network != nil })
    var bytes = Array(text.utf8)
    registry.emit(into: &bytes)
    return bytes
  }
}
