// ControlRouter.swift: turns method, URI, headers and body into a ControlAction, or says what is wrong.
import Foundation

/// Parses requests. Pure: it touches neither the engine nor the file system.
public struct ControlRouter: Sendable {
  /// The limits the query and body are checked against.
  public let limits: ControlLimits

  /// A router checking against `limits`.
  public init(limits: ControlLimits) { self.limits = limits }

  /// The action for a request; `body` is nil when the request had none.
  public func parse(method: String, uri: String, contentType: String?, body: [UInt8]?) throws(ControlError)
    -> ControlAction
  {
    let (path, query) = Self.split(uri)
    let segments = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    // Every route starts with "/v1/" and has no empty segment (no trailing or doubled slash).
    guard segments.count >= 3, segments[0].isEmpty, segments[1] == "v1", !segments.dropFirst().contains("") else {
      throw .routeNotFound(path)
    }
    let route = Array(segments.dropFirst(2))
    let allowed: [String]
    switch route.count {
    case 1 where route[0] == "vms": allowed = ["GET", "POST"]
    case 1 where ["stats", "metrics", "health"].contains(route[0]): allowed = ["GET"]
    case 2 where route[0] == "vms": allowed = ["GET"]
    case 3 where route[0] == "vms" && route[2] == "console": allowed = ["GET"]
    case 3 where route[0] == "vms" && route[2] == "kill": allowed = ["POST"]
    default: throw .routeNotFound(path)
    }
    guard allowed.contains(method) else { throw .methodNotAllowed(method: method, path: path, allowed: allowed) }
    let parameters = try Self.queryParameters(query)
    let known: Set<String> = route.count == 3 ? ["tail", "follow"] : []
    if let unknown = parameters.keys.sorted().first(where: { !known.contains($0) }) {
      throw .invalidQuery(
        known.isEmpty
          ? "unknown query parameter '\(unknown)': \(path) takes none"
          : "unknown query parameter '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
    }
    if method == "POST" && route.count == 1 {
      return .createVMs(try decodeCreateBody(contentType: contentType, body: body))
    }
    if let body, !body.isEmpty { throw .unexpectedBody }
    if route.count == 1 {
      switch route[0] {
      case "vms": return .listVMs
      case "stats": return .statistics
      case "metrics": return .metrics
      default: return .health
      }
    }
    guard let vm = VMReference(route[1]) else {
      throw .vmNotFound("no VM is named '\(route[1])' (a VM is an id, or a name: a letter then letters, digits, '.', '_', '-')")
    }
    if route.count == 2 { return .inspectVM(vm) }
    if route[2] == "kill" { return .killVM(vm) }
    let tail = try parameters["tail"].map { text throws(ControlError) in
      guard text.utf8.count <= 9, let lines = Int(text), lines >= 0, lines <= limits.maximumTailLines else {
        throw ControlError.invalidQuery("query parameter 'tail' must be a whole number from 0 to \(limits.maximumTailLines), not '\(text)'")
      }
      return lines
    } ?? 0
    let follow = try parameters["follow"].map { text throws(ControlError) in
      switch text {
      case "true", "1": return true
      case "false", "0": return false
      default: throw ControlError.invalidQuery("query parameter 'follow' must be true or false, not '\(text)'")
      }
    } ?? false
    return .readConsole(vm, tail: tail, follow: follow)
  }

  /// Checks the content type and decodes a create body strictly.
  private func decodeCreateBody(contentType: String?, body: [UInt8]?) throws(ControlError) -> CreateVMsBody {
    guard let body, !body.isEmpty else { throw .invalidBody("POST /v1/vms needs a JSON body such as {\"image\": \"hello.elf\"}") }
    guard let contentType else { throw .unsupportedMediaType("(none)") }
    let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map {
      $0.trimmingCharacters(in: .whitespaces).lowercased()
    }
    guard mediaType == "application/json" else { throw .unsupportedMediaType(contentType) }
    do {
      return try JSONDecoder().decode(CreateVMsBody.self, from: Data(body))
    } catch let error as ControlError {
      throw error
    } catch let error as DecodingError {
      throw Self.controlError(for: error)
    } catch {
      throw .malformedJSON("\(error)")
    }
  }

  /// The control error that says what a decoding error means, naming the field.
  static func controlError(for error: DecodingError) -> ControlError {
    switch error {
    case .dataCorrupted(let context) where context.codingPath.isEmpty:
      let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
      return .malformedJSON(underlying ?? context.debugDescription)
    case .dataCorrupted(let context):
      return .invalidField(fieldPath(context.codingPath), "has an invalid value: \(context.debugDescription)")
    case .typeMismatch(let type, let context) where context.codingPath.isEmpty:
      return .invalidBody("the body must be a JSON object, not \(typeName(type, fallback: "that"))")
    case .typeMismatch(let type, let context):
      return .invalidField(fieldPath(context.codingPath), "must be \(typeName(type, fallback: "of another type"))")
    case .keyNotFound(let key, let context):
      return .missingField(fieldPath(context.codingPath + [key]))
    case .valueNotFound(_, let context):
      return .invalidField(fieldPath(context.codingPath), "must not be null")
    @unknown default:
      return .invalidBody("the body does not match the schema")
    }
  }

  /// `disk.size`, `arguments[2]`.
  static func fieldPath(_ path: [any CodingKey]) -> String {
    var text = ""
    for key in path {
      if let index = key.intValue {
        text += "[\(index)]"
      } else {
        text += text.isEmpty ? key.stringValue : "." + key.stringValue
      }
    }
    return text.isEmpty ? "(body)" : text
  }

  /// "a string", "an integer", ... for an expected type.
  static func typeName(_ type: Any.Type, fallback: String) -> String {
    if type == String.self { return "a string" }
    if type == Int.self || type == UInt64.self || type == Int32.self { return "an integer" }
    if type == Bool.self { return "true or false" }
    if type == Double.self { return "a number" }
    let name = "\(type)"
    if name.hasPrefix("Array") || name.hasPrefix("[") { return "an array" }
    if name.hasPrefix("Dictionary") { return "a JSON object" }
    return fallback == "that" ? "that" : "a JSON object"
  }

  /// Splits a request target into its path and query.
  static func split(_ uri: String) -> (path: String, query: Substring?) {
    guard let mark = uri.firstIndex(of: "?") else { return (uri, nil) }
    return (String(uri[..<mark]), uri[uri.index(after: mark)...])
  }

  /// `a=1&b=2` as a dictionary; repeated, empty-named or percent-encoded parameters are refused.
  static func queryParameters(_ query: Substring?) throws(ControlError) -> [String: String] {
    guard let query, !query.isEmpty else { return [:] }
    var parameters: [String: String] = [:]
    for pair in query.split(separator: "&", omittingEmptySubsequences: false) {
      let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      let name = String(parts[0])
      let value = parts.count > 1 ? String(parts[1]) : ""
      guard !name.isEmpty, name.utf8.count <= 64, value.utf8.count <= 64 else {
        throw .invalidQuery("malformed query string")
      }
      guard parameters.updateValue(value, forKey: name) == nil else {
        throw .invalidQuery("query parameter '\(name)' is given more than once")
      }
    }
    return parameters
  }
}
