// ControlSocketTests.swift: the socket file: directory, mode 0660, group, stale sockets, live sockets.
import ControlAPI
import Foundation
import Glibc
import Testing

@Suite("Control socket")
struct ControlSocketTests {
  func temporaryDirectory() throws -> String {
    var template = Array("/tmp/denali-sock-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
    return String(cString: made)
  }

  @Test("Creates missing directories, mode 0660, the configured group, and removes the file at close")
  func modeAndGroup() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/run/denali/api.sock"
    let socket = try ControlSocket.create(path: path, groupID: 4242)
    var status = stat()
    #expect(lstat(path, &status) == 0)
    #expect(status.st_mode & S_IFMT == S_IFSOCK)
    #expect(status.st_mode & 0o777 == 0o660)
    if geteuid() == 0 { #expect(status.st_gid == 4242) }
    close(socket.descriptor)
    socket.removeFile()
    #expect(access(path, F_OK) != 0)
  }

  @Test("A stale socket (nobody listening) is replaced; a live one is refused; a non-socket is left alone")
  func staleAndLive() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/api.sock"
    let first = try ControlSocket.create(path: path, groupID: nil)
    #expect(throws: ControlSocketError.inUse(path)) { try ControlSocket.create(path: path, groupID: nil) }
    close(first.descriptor)  // the file stays: now stale
    let second = try ControlSocket.create(path: path, groupID: nil)
    close(second.descriptor)
    second.removeFile()
    #expect(FileManager.default.createFile(atPath: path, contents: Data("keep me".utf8)))
    #expect(throws: ControlSocketError.notASocket(path)) { try ControlSocket.create(path: path, groupID: nil) }
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
    #expect(throws: ControlSocketError.pathTooLong(String(repeating: "/x", count: 60))) {
      try ControlSocket.create(path: String(repeating: "/x", count: 60), groupID: nil)
    }
  }

  @Test("The client says clearly when no daemon is there")
  func noDaemon() throws {
    let client = ControlClient(socketPath: "/tmp/denali-no-such-dir/denalid.sock")
    #expect {
      _ = try client.listVMs()
    } throws: { error in
      "\(error)" == "cannot reach denalid at /tmp/denali-no-such-dir/denalid.sock: no such file or directory — is `denalid serve` running?"
    }
  }
}
