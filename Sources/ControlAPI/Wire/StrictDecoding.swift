// StrictDecoding.swift: helpers that make Codable refuse unknown fields and nulls where the API expects values.

/// A coding key for any field name, used to list the keys a JSON object really has.
struct AnyCodingKey: CodingKey {
  var stringValue: String
  var intValue: Int? { nil }
  init(stringValue: String) { self.stringValue = stringValue }
  init?(intValue: Int) { nil }
}

/// Strict decoding of JSON objects.
enum StrictDecoding {
  /// Throws `ControlError.unknownField` for the first key of the object that is not in `known`.
  static func rejectUnknownKeys(in decoder: any Decoder, known: Set<String>, path: String = "") throws {
    let container = try decoder.container(keyedBy: AnyCodingKey.self)
    let unknown = container.allKeys.map(\.stringValue).filter { !known.contains($0) }.sorted()
    if let first = unknown.first {
      throw ControlError.unknownField(path + first, known: known.sorted())
    }
  }
}

extension KeyedDecodingContainer {
  /// The value for `key`, nil when the key is absent; a JSON null is an error (absent fields are the way to
  /// ask for a default).
  func decodeStrictly<T: Decodable>(_ type: T.Type, forKey key: Key, field: String) throws -> T? {
    guard contains(key) else { return nil }
    if try decodeNil(forKey: key) { throw ControlError.invalidField(field, "must not be null (leave it out instead)") }
    return try decode(type, forKey: key)
  }
}

extension KeyedDecodingContainer {
  /// An integer field: like `decodeStrictly`, but a number with a fraction or out of range is named as such
  /// (Foundation reports those without the field's name).
  func decodeInteger(forKey key: Key, field: String) throws -> Int? {
    guard contains(key) else { return nil }
    if try decodeNil(forKey: key) { throw ControlError.invalidField(field, "must not be null (leave it out instead)") }
    if let value = try? decode(Int.self, forKey: key) { return value }
    if (try? decode(Double.self, forKey: key)) != nil {
      throw ControlError.invalidField(field, "must be a whole number within range")
    }
    return try decode(Int.self, forKey: key)
  }
}
