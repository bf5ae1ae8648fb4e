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
    let candidates = ControlRoute.all.filter { $0.matches(route) }
    guard !candidates.isEmpty else { throw .routeNotFound(path) }
    guard let matched = candidates.first(where: { $0.method == method }) else {
      throw .methodNotAllowed(method: method, path: path, allowed: candidates.map(\.method))
    }
    let parameters = try Self.queryParameters(query)
    if let unknown = parameters.keys.sorted().first(where: { !matched.query.contains($0) }) {
      throw .invalidQuery(
        matched.query.isEmpty
          ? "unknown query parameter '\(unknown)': \(path) takes none"
          : "unknown query parameter '\(unknown)' (known: \(matched.query.sorted().joined(separator: ", ")))")
    }
    let takesBody = matched.method == "POST" && matched.pattern == ["vms"]
    if !takesBody, let body, !body.isEmpty { throw .unexpectedBody }
    var vm: VMReference?
    if let index = matched.pattern.firstIndex(of: "{vm}") {
      guard let reference = VMReference(route[index]) else {
        throw .vmNotFound(
          "no VM is named '\(route[index])' (a VM is an id, or a name: a letter then letters, digits, '.', '_', '-')")
      }
      vm = reference
    }
    return try matched.action(
      ControlRoute.MatchedRequest(
        vm: vm, query: parameters,
        body: { () throws(ControlError) in try decodeCreateBody(contentType: contentType, body: body) }, limits: limits)
    )
  }

  /// Checks the content type and decodes a create body strictly.
  private func decodeCreateBody(contentType: String?, body: [UInt8]?) throws(ControlError) -> CreateVMsBody {
    guard let body, !body.isEmpty else {
      throw .invalidBody("POST /v1/vms needs a JSON body such as {\"image\": \"hello.elf\"}")
    }
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
