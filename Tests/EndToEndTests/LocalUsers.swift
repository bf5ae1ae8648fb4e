// LocalUsers.swift: throwaway local users and groups for tests that talk to the daemon as several users; created
// with useradd and groupadd (root only), removed again when the value goes away.
import Foundation
import Glibc
import Testing

/// Local groups and users made for one test, each named with the test process's id so that parallel runs do not
/// collide; `deinit` deletes them (users first, then groups).
final class LocalUsers {
  /// One user: its name and ids.
  struct User {
    /// The login name.
    let name: String
    /// The user id.
    let uid: UInt32
    /// The primary group id.
    let gid: UInt32
  }

  private var users: [String] = []
  private var groups: [String] = []

  /// True when the test can make users and run commands as them (root, useradd, setpriv, curl); prints or records
  /// why not otherwise.
  static func available() -> Bool {
    let tools = ["/usr/sbin/useradd", "/usr/sbin/userdel", "/usr/sbin/groupadd", "/usr/sbin/groupdel"]
    guard geteuid() == 0, tools.allSatisfy({ FileManager.default.isExecutableFile(atPath: $0) }),
      setpriv != nil, curl != nil
    else {
      let message = "switching users needs root, useradd/groupadd, setpriv (util-linux) and curl"
      if ProcessInfo.processInfo.environment["CI"] == "true" {
        Issue.record("\(message)")
      } else {
        print("skipping: \(message)")
      }
      return false
    }
    return true
  }

  /// setpriv's path, if installed.
  static var setpriv: String? { which("setpriv") }
  /// curl's path, if installed.
  static var curl: String? { which("curl") }

  private static func which(_ name: String) -> String? {
    ["/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"].map { $0 + name }.first {
      FileManager.default.isExecutableFile(atPath: $0)
    }
  }

  /// No users or groups yet.
  init() {}

  deinit {
    for user in users { _ = try? Self.tool("/usr/sbin/userdel", [user]) }
    for group in groups { _ = try? Self.tool("/usr/sbin/groupdel", [group]) }
  }

  /// Creates group `denali-t<pid>-<suffix>` and returns its name and id.
  func group(_ suffix: String) throws -> (name: String, gid: UInt32) {
    let name = "denali-t\(getpid())-\(suffix)"
    let result = try Self.tool("/usr/sbin/groupadd", [name])
    try #require(result.status == 0, "groupadd \(name): \(result.stderr)")
    groups.append(name)
    let entry = try #require(getgrnam(name), "group \(name) was not created")
    return (name, entry.pointee.gr_gid)
  }

  /// Creates user `denali-t<pid>-<suffix>` (no home, no login shell) with primary group `primary` and the
  /// supplementary groups `others`.
  func user(_ suffix: String, primary: String, others: [String] = []) throws -> User {
    let name = "denali-t\(getpid())-\(suffix)"
    var arguments = ["--no-create-home", "--no-user-group", "--gid", primary, "--shell", "/usr/sbin/nologin"]
    if !others.isEmpty { arguments += ["--groups", others.joined(separator: ",")] }
    let result = try Self.tool("/usr/sbin/useradd", arguments + [name])
    try #require(result.status == 0, "useradd \(name): \(result.stderr)")
    users.append(name)
    let entry = try #require(getpwnam(name), "user \(name) was not created")
    return User(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
  }

  /// Runs a user-management tool, bounded.
  private static func tool(_ path: String, _ arguments: [String]) throws -> DenalidResult {
    try Denalid.run(arguments, program: path, limit: .seconds(60))
  }

  /// An HTTP request to the daemon's socket as `user` (nil: as the test itself, root) through curl under setpriv
  /// (with the user's groups from the group database): the status and the body.
  static func request(
    _ method: String, _ path: String, body: String? = nil, as user: User?, socket: String
  ) throws -> (status: Int, body: String) {
    var command = [
      curl ?? "curl", "-sS", "--max-time", "60", "--unix-socket", socket, "-X", method, "-w", "\n%{http_code}",
    ]
    if let body { command += ["-H", "Content-Type: application/json", "--data-binary", body] }
    command.append("http://localhost\(path)")
    let result: DenalidResult
    if let user {
      result = try Denalid.run(
        ["--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", "--"] + command, program: setpriv ?? "setpriv",
        limit: .seconds(90))
    } else {
      result = try Denalid.run(Array(command.dropFirst()), program: command[0], limit: .seconds(90))
    }
    guard let newline = result.stdout.lastIndex(of: "\n"),
      let status = Int(result.stdout[result.stdout.index(after: newline)...])
    else {
      Issue.record("curl \(method) \(path) as \(user?.name ?? "root") failed: \(result.status) \(result.stderr)")
      return (0, "")
    }
    return (status, String(result.stdout[..<newline]))
  }
}
