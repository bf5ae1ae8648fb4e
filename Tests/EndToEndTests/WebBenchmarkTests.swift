// WebBenchmarkTests.swift: a small Denali web experiment: `denali-bench web` with 50 httpd VMs sharing one
// read-only site image through the API, a budget for 10, and 500 Zipf requests: every response is the document's
// exact bytes (the generator checks each), requests reached swapped-out VMs and swapped them in (and nothing else
// did: no timer in an idle httpd), and none failed.
import Foundation
import Testing

@Suite("denali-bench web (small)")
struct WebBenchmarkTests {
  @Test("50 web-server VMs, a budget for 10, 500 requests: all answered correctly, with swap-ins, no error")
  func smallWebExperiment() throws {
    guard Denalid.ready(guests: ["httpd"]), NetworkNamespace.available() else { return }
    let guests = URL(fileURLWithPath: Denalid.guest("httpd")).deletingLastPathComponent().path
    let result = try Denalid.run(
      [
        "web", "--counts", "50", "--budget-vms", "10", "--requests", "500", "--clients", "4", "--timeout", "60",
        "--guests", guests, "--json",
      ], program: Denalid.benchmarks, limit: .seconds(300))
    #expect(result.status == 0, "\(result.stderr)")
    let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    let rows = report?["rows"] as? [[String: Any]] ?? []
    try #require(rows.count == 1, "\(result.stdout)\n\(result.stderr)")
    let row = rows[0]
    #expect(row["vms"] as? Int == 50)
    #expect(row["requests"] as? Int == 500, "every request answered with the document's bytes: \(row)")
    #expect(row["errors"] as? Int == 0, "\(row["first_error"] ?? "")")
    // A budget for 10 of 50 VMs under Zipf(1.0): about a third of the requests go beyond the 10 most popular.
    let swapInsPerRequest = row["swap_ins_per_request"] as? Double ?? 0
    #expect(swapInsPerRequest > 0, "no request reached a swapped-out VM: \(row)")
    // httpd runs with lazy-time-wait, so an idle VM sets no timer: only requests swap VMs in (about half of them
    // here, the model says 0.49). With httpd's 1 s TIME-WAIT timer a VM evicted within that second was swapped in
    // again just to end it: 1.14-1.18 swap-ins per request in the same test.
    #expect(swapInsPerRequest < 0.9, "VMs were swapped in for something other than requests: \(row)")
    #expect((row["distinct_vms"] as? Int ?? 0) > 10, "\(row)")
    #expect((row["model_cold_probability"] as? Double ?? 0) > 0.2, "\(row)")
  }
}
