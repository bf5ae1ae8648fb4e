// PeerPolicy.swift: who may talk to the daemon: checked with SO_PEERCRED on every accepted connection.
import Glibc

/// The credentials of a connected peer, as the kernel recorded them at `connect()` (SO_PEERCRED).
public struct PeerCredentials: Equatable, Sendable, CustomStringConvertible {
  /// The peer's process id.
  public var pid: Int32
  /// The peer's effective user id.
  public var uid: UInt32
  /// The peer's effective group id.
  public var gid: UInt32

  /// Credentials with these ids.
  public init(pid: Int32, uid: UInt32, gid: UInt32) {
    self.pid = pid
    self.uid = uid
    self.gid = gid
  }

  /// `pid 12 uid 1000 gid 1000`.
  public var description: String { "pid \(pid) uid \(uid) gid \(gid)" }
}

/// Allows root, the daemon's own user, and members of the socket's group; refuses everyone else. Of those it
/// allows, root, the daemon's own user (which owns every state file anyway) and members of the admin group are
/// administrators (they see every VM); the rest see their own.
/// Its lookups read the user and group databases (NSS, maybe over the network): the server calls it off its
/// event loop.
public struct PeerPolicy: Sendable {
  /// The daemon's effective user id.
  public let daemonUID: UInt32
  /// The socket's group, nil when none is configured (then only root and the daemon's user are allowed).
  public let groupID: UInt32?
  /// The admin group, nil when none is configured (then only root is an administrator).
  public let adminGroupID: UInt32?

  /// A policy for a daemon running as `daemonUID` with the socket owned by `groupID` and administrators in
  /// `adminGroupID`.
  public init(daemonUID: UInt32 = geteuid(), groupID: UInt32?, adminGroupID: UInt32? = nil) {
    self.daemonUID = daemonUID
    self.groupID = groupID
    self.adminGroupID = adminGroupID
  }

  /// The caller `peer` is, or why it is refused.
  public func admit(_ peer: PeerCredentials) -> Result<ControlCaller, PeerRefusal> {
    if let reason = refusal(for: peer) { return .failure(PeerRefusal(description: reason)) }
    return .success(caller(for: peer))
  }

  /// `peer` as a caller: an administrator when it is root, the daemon's user, or a member of the admin group (its
  /// primary group or a supplementary one in the group database).
  public func caller(for peer: PeerCredentials) -> ControlCaller {
    if peer.uid == 0 || peer.uid == daemonUID { return ControlCaller(uid: peer.uid, isAdmin: true) }
    guard let adminGroupID else { return ControlCaller(uid: peer.uid, isAdmin: false) }
    let isAdmin = peer.gid == adminGroupID || Self.user(peer.uid, isMemberOf: adminGroupID)
    return ControlCaller(uid: peer.uid, isAdmin: isAdmin)
  }

  /// nil when `peer` is allowed, else the reason it is refused.
  public func refusal(for peer: PeerCredentials) -> String? {
    if peer.uid == 0 || peer.uid == daemonUID { return nil }
    guard let groupID else { return "not root and not the daemon's user (no socket group is configured)" }
    if peer.gid == groupID || Self.user(peer.uid, isMemberOf: groupID) { return nil }
    return "not root, not the daemon's user, and not a member of group \(groupID)"
  }

  /// True when the user `uid`'s group list (from the user and group databases) includes `group`.
  static func user(_ uid: UInt32, isMemberOf group: UInt32) -> Bool {
    var entry = passwd()
    var buffer = [CChar](repeating: 0, count: 4096)
    var result: UnsafeMutablePointer<passwd>?
    // SAFETY: getpwuid_r writes the entry into `entry` and its strings into `buffer`, both alive for this call;
    // pw_name and pw_gid are read before either goes away.
    let membership: Bool? = buffer.withUnsafeMutableBufferPointer { storage in
      guard let base = storage.baseAddress, getpwuid_r(uid, &entry, base, storage.count, &result) == 0, result != nil,
        let name = entry.pw_name
      else { return nil }
      var count: Int32 = 64
      var groups = [gid_t](repeating: 0, count: Int(count))
      // SAFETY: `groups` holds `count` entries; getgrouplist writes at most that many and updates `count`.
      if getgrouplist(name, entry.pw_gid, &groups, &count) < 0 {
        groups = [gid_t](repeating: 0, count: Int(count))
        guard getgrouplist(name, entry.pw_gid, &groups, &count) >= 0 else { return nil }
      }
      return groups.prefix(Int(count)).contains(group)
    }
    return membership ?? false
  }
}

/// Why a peer was refused.
public struct PeerRefusal: Error, CustomStringConvertible {
  /// The reason, for the log.
  public let description: String
}
