// CommandLineTests.swift: the denalid client commands against a test server, and `denalid serve` before the engine.
// Addresses here are only configuration text (--check-config) and request fields: no packet is sent.
import ControlAPI
import Foundation
import Testing

@Suite("denalid client commands and serve")
struct CommandLineTests {
  func denalid(_ arguments: [String], server: TestServer? = nil) throws -> ProcessResult? {
    guard let executable = ProcessRunner.denalid() else { return nil }
    return try ProcessRunner.run(
      executable, arguments, environment: server.map { ["DENALID_SOCKET": $0.socketPath] } ?? [:])
  }

  @Test("spawn, list, inspect, logs, kill, stats: tables by default, JSON with --json")
  func lifecycle() throws {
    let server = try TestServer()
    guard
      let spawn = try denalid(
        ["spawn", server.images + "/hello.elf", "--count", "2", "--name", "web", "--memory", "8MiB", "--", "x", "y"],
        server: server)
    else { return }
    #expect(spawn.status == 0, "\(spawn.stderr)")
    #expect(spawn.stdout.hasPrefix("ID  NAME   STATE     MEMORY\n1   web-1  runnable  8.0MiB\n"))
    #expect(
      server.backend.calls.first?.hasSuffix("count=2 memory=8388608 disk=none names=web-1,web-2 arguments=x,y") == true)
    let list = try #require(try denalid(["list"], server: server))
    #expect(list.stdout.split(separator: "\n").count == 3)
    #expect(list.stdout.contains("web-2  runnable  8.0MiB"))
    let json = try #require(try denalid(["list", "--json"], server: server))
    #expect(try ControlJSON.decoder().decode(VMListResponse.self, from: Data(json.stdout.utf8)).vms.count == 2)
    let inspect = try #require(try denalid(["inspect", "web-2"], server: server))
    #expect(inspect.stdout.contains("arguments      x y\n"))
    let inspectJSON = try #require(try denalid(["inspect", "1", "--json"], server: server))
    #expect(try ControlJSON.decoder().decode(VMInfo.self, from: Data(inspectJSON.stdout.utf8)).name == "web-1")
    server.backend.emit(1, "hello\n")
    let logs = try #require(try denalid(["logs", "web-1", "--tail", "1"], server: server))
    #expect(logs.stdout == "booted 1\nhello\n")
    let kill = try #require(try denalid(["kill", "web-1", "2"], server: server))
    #expect(kill.stdout == "killed vm 1 (web-1)\nkilled vm 2 (web-2)\n")
    let again = try #require(try denalid(["kill", "web-1"], server: server))
    #expect(again.status == 1)
    #expect(again.stderr == "denalid: vm \"web-1\" has already finished (HTTP 409, conflict)\n")
    let stats = try #require(try denalid(["stats"], server: server))
    #expect(stats.stdout.contains("vms              2\n  killed         2\n"))
    let statsJSON = try #require(try denalid(["stats", "--json"], server: server))
    #expect(try JSONDecoder().decode(DaemonStatistics.self, from: Data(statsJSON.stdout.utf8)).vmsTotal == 2)
  }

  @Test("logs --follow prints until the VM ends")
  func follow() throws {
    let server = try TestServer()
    _ = try server.client.createVMs(CreateVMsBody(image: "hello.elf"))
    guard let executable = ProcessRunner.denalid() else { return }
    let socket = server.socketPath
    let follower = BackgroundThread {
      try ProcessRunner.run(executable, ["logs", "1", "--follow", "--socket", socket])
    }
    waitUntil { server.backend.followerCount(1) == 1 }
    server.backend.emit(1, "more\n")
    _ = try server.client.killVM("1")
    let result = try follower.value()
    #expect(result.status == 0)
    #expect(result.stdout == "booted 1\nmore\n")
  }

  @Test("Bulk spawn goes in batches and reports the rate")
  func bulk() throws {
    let server = try TestServer()
    guard
      let result = try denalid(
        ["spawn", "hello.elf", "--count", "120", "--batch", "50", "--name", "n"], server: server)
    else { return }
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.hasPrefix("spawned 120 VMs (ids 1-120) in "))
    #expect(server.backend.calls.count == 3)
    #expect(server.backend.calls[2].contains("names=n-101,"))
  }

  @Test("Refusals and an absent daemon give clear errors and exit statuses")
  func errors() throws {
    let server = try TestServer()
    guard let bad = try denalid(["spawn", "../etc/passwd"], server: server) else { return }
    #expect(bad.status == 1)
    #expect(bad.stderr.contains("'..' is not allowed in image paths (path traversal) (HTTP 422, image_refused)"))
    let absent = try #require(try denalid(["list", "--socket", "/tmp/denali-nowhere/denalid.sock"]))
    #expect(absent.status == 69)
    #expect(
      absent.stderr
        == "denalid: cannot reach denalid at /tmp/denali-nowhere/denalid.sock: no such file or directory — is `denalid serve` running?\n"
    )
  }

  @Test("denalid bench runs denali-bench from its folder with the same arguments and exit status")
  func benchForwards() throws {
    guard let list = try denalid(["bench", "--help"]), let web = try denalid(["bench", "web", "--help"]),
      let wrong = try denalid(["bench", "no-such-benchmark"])
    else { return }
    #expect(list.status == 0 && list.stdout.contains("USAGE: denali-bench"), "\(list.stdout) \(list.stderr)")
    #expect(list.stdout.contains("web") && list.stdout.contains("spawn"), "\(list.stdout)")
    #expect(web.status == 0 && web.stdout.contains("--clients") && web.stdout.contains("--hundred-thousand"))
    #expect(wrong.status != 0 && wrong.stderr.contains("no-such-benchmark"), "\(wrong.status) \(wrong.stderr)")
  }

  @Test("--version: the package version and the git commit the binary was built from")
  func version() throws {
    guard let result = try denalid(["--version"]) else { return }
    #expect(result.status == 0)
    let prefix = "denalid \(DebianPackageTests.packageVersion) (commit "
    #expect(result.stdout.hasPrefix(prefix), "\(result.stdout)")
    // make test builds with DENALI_GIT_COMMIT set (scripts/git-commit.sh) and passes it on.
    if let commit = ProcessInfo.processInfo.environment["DENALI_GIT_COMMIT"], !commit.isEmpty {
      #expect(result.stdout == prefix + commit + ")\n", "\(result.stdout)")
    }
  }

  @Test("serve: Config/denalid.conf states exactly the built-in defaults; flags override it")
  func configuration() throws {
    let file = ProcessRunner.root.appendingPathComponent("Config/denalid.conf").path
    guard let fromFile = try denalid(["serve", "--check-config", "--config", file]) else { return }
    let builtIn = try #require(try denalid(["serve", "--check-config", "--config", "/dev/null"]))
    #expect(fromFile.status == 0, "\(fromFile.stderr)")
    #expect(fromFile.stdout == builtIn.stdout)
    #expect(
      fromFile.stdout.contains(
        "socket = /run/denali/denalid.sock\nsocket-group = denali\nimage-dir = /var/lib/denali/images\n"))
    let overridden = try #require(
      try denalid([
        "serve", "--check-config", "--config", file, "--max-vms", "50", "--image-dir", "/a", "--image-dir", "/b",
        "--log-level", "debug",
      ]))
    #expect(overridden.stdout.contains("image-dir = /a\nimage-dir = /b\n"))
    #expect(overridden.stdout.contains("max-vms = 50\n") && overridden.stdout.contains("log-level = debug\n"))
    #expect(
      builtIn.stdout.hasSuffix(
        "network = none\nuplink = none\nuplink-address = auto\nvm-to-vm = deny\nreceive-queue = 64\n"
          + "receive-memory = 256MiB\n"),
      "\(builtIn.stdout)")
    let networked = try #require(
      try denalid([
        "serve", "--check-config", "--config", "/dev/null", "--network", "10.0.0.0/16", "--uplink", "tap dtap0",
        "--vm-to-vm", "allow", "--receive-queue", "1024",
      ]))
    #expect(
      networked.stdout.hasSuffix(
        "network = 10.0.0.0/16\nuplink = tap dtap0\nuplink-address = 10.0.0.1/16\nvm-to-vm = allow\n"
          + "receive-queue = 1024\nreceive-memory = 256MiB\n"),
      "the uplink's address defaults to the network's first: \(networked.stdout)")
    let explicit = try #require(
      try denalid([
        "serve", "--check-config", "--config", "/dev/null", "--network", "10.0.0.0/16", "--uplink", "tap dtap0",
        "--uplink-address", "10.0.9.9",
      ]))
    #expect(explicit.stdout.contains("uplink-address = 10.0.9.9/16\n"), "\(explicit.stdout)")
  }

  @Test(
    "serve: every configuration key is a flag in --help, a line of --check-config and documented in Config/denalid.conf"
  )
  func everyKeyDocumented() throws {
    guard let help = try denalid(["serve", "--help"]),
      let rendered = try denalid(["serve", "--check-config", "--config", "/dev/null"])
    else { return }
    let helpKeys = help.stdout.split(separator: "\n").compactMap { line -> String? in
      guard line.hasPrefix("  --"), let colon = line.firstIndex(of: ":") else { return nil }
      let key = line[line.index(line.startIndex, offsetBy: 4)..<colon]
      return key.contains(" ") ? nil : String(key)
    }
    let renderedKeys = rendered.stdout.split(separator: "\n").compactMap {
      $0.split(separator: " ").first.map(String.init)
    }
    #expect(helpKeys.count >= 17, "\(help.stdout)")
    #expect(helpKeys == renderedKeys, "help lists \(helpKeys); --check-config states \(renderedKeys)")
    let file = try String(
      contentsOfFile: ProcessRunner.root.appendingPathComponent("Config/denalid.conf").path, encoding: .utf8)
    let lines = file.split(separator: "\n", omittingEmptySubsequences: false)
    for key in helpKeys {
      let line = lines.firstIndex { $0.hasPrefix("\(key) = ") }
      #expect(line != nil, "Config/denalid.conf does not state \(key)")
      if let line {
        #expect(
          line > 0 && lines[line - 1].hasPrefix("#"), "Config/denalid.conf states \(key) without a comment above it")
      }
    }
  }

  @Test("serve refuses bad configuration with status 2 and says what is wrong")
  func badConfiguration() throws {
    let directory = NSTemporaryDirectory() + "denali-conf-\(getpid())-\(Int.random(in: 0..<1_000_000))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let cases: [(String, String)] = [
      ("max-vmz = 3\n", ".conf:1: unknown configuration key 'max-vmz'"),
      ("# ok\nmemory-budget = lots\n", ".conf:2: memory-budget = lots: expected a size such as 4MiB"),
      ("max-memory-per-vm = 2GiB\n", "max-memory-per-vm must be a multiple of 2MiB from 2MiB to 1GiB"),
      ("just words\n", ".conf:1: expected key = value"),
      (
        "network = 10.0.0.1/16\n",
        "network = 10.0.0.1/16: expected a subnet such as 10.0.0.0/16 (host bits zero), or none"
      ),
      ("network = 10.0.0.0/31\n", "network: the prefix must be from /8 to /30, not /31"),
      ("uplink = tap dtap0\n", "uplink needs a network: set network = SUBNET"),
      ("network = 10.0.0.0/24\nuplink = bridge br0\n", ".conf:2: uplink = bridge br0: expected tap NAME"),
      ("network = 10.0.0.0/24\nuplink-address = 10.0.0.1/24\n", "uplink-address needs uplink = tap NAME"),
      (
        "network = 10.0.0.0/24\nuplink = tap d0\nuplink-address = 10.0.1.1\n",
        "uplink-address 10.0.1.1 is not a host address of network 10.0.0.0/24"
      ),
      ("network = 10.0.0.0/24\nuplink = tap d0\nuplink-address = 10.0.0.255\n", "is not a host address of network"),
      (
        "network = 10.0.0.0/24\nuplink = tap d0\nuplink-address = 10.0.0.1/16\n",
        "uplink-address 10.0.0.1/16 must have the network's prefix /24"
      ),
      ("vm-to-vm = maybe\n", "vm-to-vm = maybe: expected allow or deny"),
      ("receive-queue = 8\n", "receive-queue must be from 16 to 65536 frames, not 8"),
      ("receive-queue = -1\n", "receive-queue = -1: expected a whole number"),
      ("receive-memory = 4KiB\n", "receive-memory must be from 1MiB to 64GiB, not 4KiB"),
    ]
    for (index, (text, message)) in cases.enumerated() {
      let path = directory + "/\(index).conf"
      try text.write(toFile: path, atomically: true, encoding: .utf8)
      guard let result = try denalid(["serve", "--check-config", "--config", path]) else { return }
      #expect(result.status == 2)
      #expect(result.stderr.contains(message), "\(result.stderr)")
    }
  }

  @Test(
    "serve whose engine cannot start (state directory unusable) stops with a clear message, status 125, and leaves no socket behind"
  )
  func engineCannotStart() throws {
    let directory = "/tmp/denali-serve-\(getpid())-\(Int.random(in: 0..<1_000_000))"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let arguments = [
      "serve", "--config", "/dev/null", "--socket", directory + "/d.sock", "--socket-group", "", "--image-dir",
      directory,
      "--state-dir", "/dev/null/state",
    ]
    guard let result = try denalid(arguments) else { return }
    #expect(result.status == 125)
    #expect(result.stderr.contains("critical: cannot start the engine:"), "\(result.stderr)")
    #expect(result.stderr.contains("/dev/null/state"), "\(result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/d.sock"))
    let journald = try ProcessRunner.run(
      ProcessRunner.denalid() ?? "", arguments, environment: ["JOURNAL_STREAM": "8:1234"])
    #expect(journald.stderr.hasPrefix("<2>cannot start the engine:"), "\(journald.stderr)")
  }
}
