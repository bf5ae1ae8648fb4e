// ControlRoute.swift: the control API's routes, written once: path pattern, method, query parameters, and the
// action a matching request becomes. The router matches against this table; a test checks it against
// Docs/openapi.yaml.

/// One route: `method /v1/pattern`, where a `{vm}` segment is a VM's id or name.
public struct ControlRoute: Sendable {
  /// The path after `/v1/`, segment by segment (`["vms", "{vm}", "kill"]`).
  public let pattern: [String]
  /// The HTTP method.
  public let method: String
  /// The query parameters it takes.
  public let query: Set<String>
  /// Builds the action from the VM the path names (for `{vm}` routes), the query and the body.
  let action: @Sendable (_ request: MatchedRequest) throws(ControlError) -> ControlAction

  /// What a matched request carries to its route's action.
  struct MatchedRequest {
    /// The VM named by a `{vm}` segment, if the route has one.
    let vm: VMReference?
    /// The query parameters (only those the route takes).
    let query: [String: String]
    /// The decoded create body, for the route that takes one.
    let body: () throws(ControlError) -> CreateVMsBody
    /// The limits requests are checked against.
    let limits: ControlLimits
  }

  /// The path as OpenAPI writes it (`/v1/vms/{vm}/kill`).
  public var path: String { "/v1/" + pattern.joined(separator: "/") }

  /// Every route of the API.
  public static let all: [ControlRoute] = [
    ControlRoute(pattern: ["vms"], method: "GET", query: [], action: { _ in .listVMs }),
    ControlRoute(
      pattern: ["vms"], method: "POST", query: [],
      action: { request throws(ControlError) in .createVMs(try request.body()) }),
    ControlRoute(
      pattern: ["vms", "{vm}"], method: "GET", query: [], action: { request in .inspectVM(request.requiredVM) }),
    ControlRoute(
      pattern: ["vms", "{vm}", "kill"], method: "POST", query: [], action: { request in .killVM(request.requiredVM) }),
    ControlRoute(
      pattern: ["vms", "{vm}", "console"], method: "GET", query: ["tail", "follow"],
      action: { request throws(ControlError) in
        .readConsole(request.requiredVM, tail: try request.tail(), follow: try request.follow())
      }),
    ControlRoute(pattern: ["stats"], method: "GET", query: [], action: { _ in .statistics }),
    ControlRoute(pattern: ["metrics"], method: "GET", query: [], action: { _ in .metrics }),
    ControlRoute(pattern: ["health"], method: "GET", query: [], action: { _ in .health }),
  ]

  /// True when `segments` (the path after `/v1/`) fit the pattern.
  func matches(_ segments: [String]) -> Bool {
    segments.count == pattern.count && zip(pattern, segments).allSatisfy { $0 == "{vm}" || $0 == $1 }
  }
}

extension ControlRoute.MatchedRequest {
  /// The VM of a `{vm}` route (the router resolves it before building the action).
  var requiredVM: VMReference { vm ?? .id(0) }

  /// `tail=N`: a whole number from 0 to the limit; 0 (everything kept) when absent.
  func tail() throws(ControlError) -> Int {
    guard let text = query["tail"] else { return 0 }
    guard text.utf8.count <= 9, let lines = Int(text), lines >= 0, lines <= limits.maximumTailLines else {
      throw .invalidQuery(
        "query parameter 'tail' must be a whole number from 0 to \(limits.maximumTailLines), not '\(text)'")
    }
    return lines
  }

  /// `follow=true|false|1|0`; false when absent.
  func follow() throws(ControlError) -> Bool {
    switch query["follow"] {
    case nil, "false", "0": false
    case "true", "1": true
    case let text?: throw .invalidQuery("query parameter 'follow' must be true or false, not '\(text)'")
    }
  }
}
