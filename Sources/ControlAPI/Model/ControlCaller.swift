// ControlCaller.swift: who sent a request: the peer's uid (SO_PEERCRED) and whether it may see every VM.

/// The user behind a control connection, as the kernel reported it at `connect()` and the daemon classified it
/// (off the event loop) when it accepted the connection.
public struct ControlCaller: Equatable, Sendable, CustomStringConvertible {
  /// The peer's effective user id: the owner of every VM it creates.
  public var uid: UInt32
  /// Root, or a member of the configured admin group: sees and acts on every VM, and no per-user quota applies.
  public var isAdmin: Bool

  /// A caller with this uid and role.
  public init(uid: UInt32, isAdmin: Bool) {
    self.uid = uid
    self.isAdmin = isAdmin
  }

  /// Root: an administrator (what in-process callers and tests act as).
  public static let root = ControlCaller(uid: 0, isAdmin: true)

  /// True when this caller may see and act on a VM owned by `owner`: its own, or any for an administrator.
  public func mayAccess(owner: UInt32) -> Bool { isAdmin || owner == uid }

  /// `uid 1001` or `uid 0 (admin)`.
  public var description: String { "uid \(uid)" + (isAdmin ? " (admin)" : "") }
}
