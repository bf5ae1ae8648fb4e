// ControlJSON.swift: the one JSON configuration both server and client use (snake_case keys, ISO 8601 times).
import Foundation

/// Encoders and decoders for the API's bodies.
public enum ControlJSON {
  /// Encodes with sorted keys and ISO 8601 dates.
  public static func encoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return encoder
  }

  /// Decodes ISO 8601 dates.
  public static func decoder() -> JSONDecoder {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return decoder
  }

  /// `value` as JSON bytes with a final newline; an encoding failure (a host bug) becomes an error body.
  public static func bytes(_ value: some Encodable) -> [UInt8] {
    do {
      return Array(try encoder().encode(value)) + [0x0A]
    } catch {
      return Array(#"{"code":"host_error","message":"the response could not be encoded"}"#.utf8) + [0x0A]
    }
  }
}
