// VMReference.swift: how a request names one VM: by numeric id or by name.

/// A VM named in a request path: all digits is an id, anything else a name (names never are all digits).
public enum VMReference: Hashable, Sendable, Codable, CustomStringConvertible {
  /// The VM with this id.
  case id(UInt64)
  /// The VM with this name.
  case name(String)

  /// Parses a path segment; nil when it is neither an id nor a valid name.
  public init?(_ text: String) {
    if !text.isEmpty, text.utf8.count <= 20, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
      guard let id = UInt64(text) else { return nil }
      self = .id(id)
    } else if VMName.isValid(text) {
      self = .name(text)
    } else {
      return nil
    }
  }

  /// `vm 12` or `vm "web-1"`, for messages.
  public var description: String {
    switch self {
    case .id(let id): "vm \(id)"
    case .name(let name): "vm \"\(name)\""
    }
  }
}
