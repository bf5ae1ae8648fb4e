// RouteTableTests.swift: the route table is the API's one list of routes: it matches Docs/openapi.yaml exactly,
// and each route parses to its action while other methods get 405 and other paths 404.
import Foundation
import Testing

@testable import ControlAPI

@Suite("Route table")
struct RouteTableTests {
  /// `(method, path)` of every operation in Docs/openapi.yaml.
  static func documentedOperations() throws -> Set<String> {
    let text = try String(contentsOf: ProcessRunner.root.appendingPathComponent("Docs/openapi.yaml"), encoding: .utf8)
    var operations = Set<String>()
    var path: String?
    for line in text.split(separator: "\n") {
      if line.hasPrefix("  /v1/"), line.hasSuffix(":") {
        path = String(line.dropFirst(2).dropLast())
      } else if line.hasPrefix("  "), !line.hasPrefix("    ") {
        path = nil
      } else if let current = path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
        let method = line.trimmingCharacters(in: .whitespaces).dropLast().uppercased()
        if ["GET", "POST", "PUT", "DELETE", "PATCH"].contains(method) { operations.insert("\(method) \(current)") }
      }
    }
    return operations
  }

  @Test("every route of the table is in Docs/openapi.yaml, and every operation there is in the table")
  func tableMatchesOpenAPI() throws {
    let table = Set(ControlRoute.all.map { "\($0.method) \($0.path)" })
    let documented = try Self.documentedOperations()
    #expect(table.count == ControlRoute.all.count, "no route twice")
    #expect(table == documented, "table \(table.sorted()), openapi.yaml \(documented.sorted())")
  }

  @Test("each route parses to its action; other methods on its path get 405, unknown paths 404")
  func routesParse() throws {
    let router = ControlRouter(limits: ControlLimits())
    let body = Array(#"{"image": "hello.elf"}"#.utf8)
    for route in ControlRoute.all {
      let path = route.path.replacingOccurrences(of: "{vm}", with: "web-1")
      let action = try router.parse(
        method: route.method, uri: path, contentType: "application/json",
        body: route.method == "POST" && route.pattern == ["vms"] ? body : nil)
      switch (route.pattern.last, action) {
      case ("vms", .listVMs), ("vms", .createVMs), ("{vm}", .inspectVM(.name("web-1"))),
        ("kill", .killVM(.name("web-1"))),
        ("console", .readConsole(.name("web-1"), tail: 0, follow: false)), ("stats", .statistics),
        ("metrics", .metrics),
        ("health", .health):
        break
      default: Issue.record("\(route.method) \(path) parsed to \(action)")
      }
      #expect(throws: ControlError.self) { try router.parse(method: "DELETE", uri: path, contentType: nil, body: nil) }
    }
    #expect(throws: ControlError.routeNotFound("/v1/vms/web-1/reboot")) {
      try router.parse(method: "POST", uri: "/v1/vms/web-1/reboot", contentType: nil, body: nil)
    }
  }
}
