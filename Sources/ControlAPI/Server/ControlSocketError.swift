// ControlSocketError.swift: why the control socket could not be set up.
import Glibc

/// A failure creating the listening socket; the message says what to do.
public enum ControlSocketError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The path does not fit in `sockaddr_un` (107 bytes).
  case pathTooLong(String)
  /// The parent directory could not be created.
  case cannotCreateDirectory(String, errno: Int32)
  /// Another process is listening on the socket already.
  case inUse(String)
  /// Something that is not a socket is in the way.
  case notASocket(String)
  /// A system call failed.
  case systemCall(String, path: String, errno: Int32)

  /// The operator-facing message.
  public var description: String {
    switch self {
    case .pathTooLong(let path): "socket path \(path) is longer than 107 bytes"
    case .cannotCreateDirectory(let path, let code): "cannot create directory \(path): \(Self.text(code))"
    case .inUse(let path): "\(path): another denalid is listening on this socket (refusing to take it over)"
    case .notASocket(let path): "\(path) exists and is not a socket (refusing to remove it)"
    case .systemCall(let call, let path, let code): "\(call) \(path): \(Self.text(code))"
    }
  }

  private static func text(_ code: Int32) -> String { String(cString: strerror(code)) }
}
