// PeerCredentialTests.swift: the daemon checks SO_PEERCRED on every connection and refuses other users.
import ControlAPI
import Foundation
import Glibc
import Testing

@Suite("Peer credentials")
struct PeerCredentialTests {
  /// True when the test can switch users with setpriv (root, setpriv and curl present); prints why not otherwise.
  static func canSwitchUsers() -> Bool {
    guard geteuid() == 0, ProcessRunner.which("setpriv") != nil, ProcessRunner.which("curl") != nil else {
      if ProcessInfo.processInfo.environment["CI"] == "true" {
        Issue.record("switching users needs root, setpriv (util-linux) and curl (scripts/setup.sh)")
      } else {
        print("skipping: switching users needs root, setpriv and curl")
      }
      return false
    }
    return true
  }

  /// Runs curl as `uid`/`gid` (no supplementary groups) against the server's socket.
  static func curl(as uid: UInt32, gid: UInt32, server: TestServer, path: String = "/v1/vms") throws -> ProcessResult {
    try ProcessRunner.run(
      ProcessRunner.which("setpriv") ?? "setpriv",
      [
        "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--", ProcessRunner.which("curl") ?? "curl", "-sS",
        "--max-time", "10", "--unix-socket", server.socketPath, "http://localhost\(path)",
      ])
  }

  @Test("The policy allows root, the daemon's user and the socket's group, and refuses the rest")
  func policy() {
    let policy = PeerPolicy(daemonUID: 1000, groupID: 4242)
    #expect(policy.refusal(for: PeerCredentials(pid: 1, uid: 0, gid: 0)) == nil)
    #expect(policy.refusal(for: PeerCredentials(pid: 1, uid: 1000, gid: 1000)) == nil)
    #expect(policy.refusal(for: PeerCredentials(pid: 1, uid: 2000, gid: 4242)) == nil)
    #expect(
      policy.refusal(for: PeerCredentials(pid: 1, uid: 65534, gid: 65534))?.contains("not a member of group 4242")
        == true)
    let noGroup = PeerPolicy(daemonUID: 1000, groupID: nil)
    #expect(noGroup.refusal(for: PeerCredentials(pid: 1, uid: 2000, gid: 4242)) != nil)
  }

  @Test("Root, the daemon's user, and a peer whose group is the admin group are administrators; others are not")
  func administrators() {
    let policy = PeerPolicy(daemonUID: 1000, groupID: 4242, adminGroupID: 4343)
    #expect(policy.caller(for: PeerCredentials(pid: 1, uid: 0, gid: 0)) == ControlCaller(uid: 0, isAdmin: true))
    #expect(
      policy.caller(for: PeerCredentials(pid: 1, uid: 2000, gid: 4343)) == ControlCaller(uid: 2000, isAdmin: true))
    #expect(
      policy.caller(for: PeerCredentials(pid: 1, uid: 1000, gid: 1000)) == ControlCaller(uid: 1000, isAdmin: true))
    #expect(
      policy.caller(for: PeerCredentials(pid: 1, uid: 65534, gid: 4242)) == ControlCaller(uid: 65534, isAdmin: false))
    let noAdmins = PeerPolicy(daemonUID: 1000, groupID: 4242)
    #expect(noAdmins.caller(for: PeerCredentials(pid: 1, uid: 2000, gid: 4343)).isAdmin == false)
    #expect(noAdmins.caller(for: PeerCredentials(pid: 1, uid: 0, gid: 0)).isAdmin)
    guard case .failure(let refusal) = policy.admit(PeerCredentials(pid: 1, uid: 65534, gid: 65534)) else {
      Issue.record("a peer outside the socket's group was admitted")
      return
    }
    #expect(refusal.description.contains("not a member of group 4242"))
    #expect(ControlCaller(uid: 5, isAdmin: false).mayAccess(owner: 5))
    #expect(!ControlCaller(uid: 5, isAdmin: false).mayAccess(owner: 6))
    #expect(ControlCaller(uid: 5, isAdmin: true).mayAccess(owner: 6))
  }

  @Test("A connection from another user is closed without an answer, even when the socket's mode would let it in")
  func refusedPeer() throws {
    guard Self.canSwitchUsers() else { return }
    let server = try TestServer(policy: PeerPolicy(groupID: 4242))
    // Simulate a socket whose permissions were loosened by mistake: the credential check still refuses.
    #expect(chmod(server.socketPath, 0o666) == 0)
    #expect(chmod(server.directory, 0o755) == 0)
    let result = try Self.curl(as: 65534, gid: 65534, server: server)
    #expect(result.status != 0, "curl as nobody got an answer: \(result.stdout)")
    #expect(result.stdout.isEmpty)
    #expect(server.backend.calls.isEmpty)
    let metrics = try server.request("GET", "/v1/metrics").text
    #expect(metrics.contains("denali_api_refused_connections_total 1"))
  }

  @Test("With mode 0660 another user cannot even connect")
  func socketMode() throws {
    guard Self.canSwitchUsers() else { return }
    let server = try TestServer(policy: PeerPolicy(groupID: 4242))
    #expect(chmod(server.directory, 0o755) == 0)
    let result = try Self.curl(as: 65534, gid: 65534, server: server)
    #expect(result.status != 0)
    #expect(
      result.stderr.contains("ermission denied") || result.stderr.contains("Couldn't connect"), "\(result.stderr)")
  }

  @Test("A member of the socket's group is served")
  func groupMember() throws {
    guard Self.canSwitchUsers() else { return }
    let server = try TestServer(policy: PeerPolicy(groupID: 4242))
    #expect(chown(server.socketPath, 0, 4242) == 0)
    #expect(chmod(server.directory, 0o755) == 0)
    let result = try Self.curl(as: 65534, gid: 4242, server: server)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout == #"{"vms":[]}"# + "\n")
    #expect(server.backend.calls == ["list"])
  }
}
