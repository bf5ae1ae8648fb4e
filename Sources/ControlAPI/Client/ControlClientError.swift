// ControlClientError.swift: why a client request failed, worded for the operator at the command line.
import Glibc
import SystemCalls

/// A failed client request.
public enum ControlClientError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The socket could not be reached (no daemon, no permission, ...).
  case cannotConnect(path: String, errno: Int32)
  /// The daemon closed the connection before answering (its peer-credential check refuses this user).
  case closedByDaemon(path: String)
  /// Reading or writing the connection failed.
  case connection(path: String, errno: Int32)
  /// The answer was not the HTTP the client expects.
  case malformedResponse(String)
  /// The daemon refused the request: HTTP status and its error body.
  case refused(status: Int, ErrorBody)

  /// The message printed after `denalid: `.
  public var description: String {
    switch self {
    case .cannotConnect(let path, let code):
      switch code {
      case ENOENT, ECONNREFUSED:
        "cannot reach denalid at \(path): \(Self.text(code).lowercased()) — is `denalid serve` running?"
      case EACCES, EPERM:
        "cannot reach denalid at \(path): permission denied — only root, the daemon's user and members of its socket group may connect"
      default:
        "cannot reach denalid at \(path): \(Self.text(code).lowercased())"
      }
    case .closedByDaemon(let path):
      "denalid at \(path) closed the connection without answering (it refuses this user: see its log)"
    case .connection(let path, let code): "connection to denalid at \(path) failed: \(Self.text(code).lowercased())"
    case .malformedResponse(let detail): "unexpected answer from denalid: \(detail)"
    case .refused(let status, let body): "\(body.message) (HTTP \(status), \(body.code))"
    }
  }

  private static func text(_ code: Int32) -> String { SystemCallError.text(for: code) }
}
