// ControlSocketError.swift: why the control socket could not be set up.
import Glibc
import SystemCalls
import TrustedFiles

/// A failure creating the listening socket; the message says what to do.
public enum ControlSocketError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The path does not fit in `sockaddr_un` (107 bytes).
  case pathTooLong(String)
  /// The socket's directory was refused (another user could change it) or could not be created or opened.
  case directory(TrustedDirectoryError)
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
    case .directory(let error): "socket directory: \(error)"
    case .inUse(let path): "\(path): another denalid is listening on this socket (refusing to take it over)"
    case .notASocket(let path): "\(path) exists and is not a socket (refusing to remove it)"
    case .systemCall(let call, let path, let code): "\(call) \(path): \(Self.text(code))"
    }
  }

  private static func text(_ code: Int32) -> String { SystemCallError.text(for: code) }
}
