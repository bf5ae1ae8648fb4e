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

  @Test("A socket directory another user could change is refused; a sticky one (as /tmp) is allowed")
  func untrustedDirectory() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let open = directory + "/open"
    #expect(mkdir(open, 0o700) == 0 && chmod(open, 0o777) == 0)
    #expect(
      throws: ControlSocketError.directory(
        .untrusted(path: open, owner: geteuid(), mode: S_IFDIR | 0o777, isTarget: false))
    ) {
      try ControlSocket.create(path: open + "/api.sock", groupID: nil)
    }
    #expect(!FileManager.default.fileExists(atPath: open + "/api.sock"))
    let sticky = directory + "/sticky"
    #expect(mkdir(sticky, 0o700) == 0 && chmod(sticky, 0o1777) == 0)
    let socket = try ControlSocket.create(path: sticky + "/api.sock", groupID: nil)
    close(socket.descriptor)
    socket.removeFile()
    guard geteuid() == 0 else { return }
    let theirs = directory + "/theirs"
    #expect(mkdir(theirs, 0o755) == 0 && chown(theirs, 65534, 65534) == 0)
    #expect(
      throws: ControlSocketError.directory(
        .untrusted(path: theirs, owner: 65534, mode: S_IFDIR | 0o755, isTarget: false))
    ) {
      try ControlSocket.create(path: theirs + "/run/api.sock", groupID: nil)
    }
    #expect(!FileManager.default.fileExists(atPath: theirs + "/run"), "nothing is created under an untrusted directory")
  }

  @Test(
    "The socket file is removed from the directory that was checked, even after that directory is swapped for a link")
  func removedByDescriptor() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    #expect(mkdir(directory + "/run", 0o755) == 0 && mkdir(directory + "/elsewhere", 0o755) == 0)
    let first = try ControlSocket.create(path: directory + "/run/api.sock", groupID: nil)
    // The stale socket is removed by name inside the directory that was opened, not through a link.
    close(first.descriptor)
    #expect(rename(directory + "/run", directory + "/moved") == 0)
    #expect(symlink(directory + "/elsewhere", directory + "/run") == 0)
    first.removeFile()
    #expect(!FileManager.default.fileExists(atPath: directory + "/moved/api.sock"))
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/elsewhere").isEmpty)
  }

  @Test("The client says clearly when no daemon is there")
  func noDaemon() throws {
    let client = ControlClient(socketPath: "/tmp/denali-no-such-dir/denalid.sock")
    #expect {
      _ = try client.listVMs()
    } throws: { error in
      "\(error)"
        == "cannot reach denalid at /tmp/denali-no-such-dir/denalid.sock: no such file or directory — is `denalid serve` running?"
    }
  }
}
