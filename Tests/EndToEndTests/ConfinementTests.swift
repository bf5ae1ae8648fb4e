// ConfinementTests.swift: the daemon's own confinement: per-thread seccomp filters (a forbidden call stops the
// process with a log line; every thread has a filter), and `denalid serve` as an unprivileged user with only the
// devices it needs, creating its uplink's TAP device with CAP_NET_ADMIN and dropping it.
import Foundation
import Testing

@Suite("confinement: seccomp filters and an unprivileged daemon")
struct ConfinementTests {
  /// Runs `program` with `arguments` and extra `environment`, killed after `limit`; stdout and stderr apart.
  static func run(
    _ program: String, _ arguments: [String], environment: [String: String] = [:], limit: Duration = .seconds(60)
  ) throws -> DenalidResult {
    try Denalid.run(arguments, program: program, environment: environment, limit: limit)
  }

  @Test("a worker thread that tries openat is stopped by its filter: one log line naming it, exit status 159")
  func workerOpenatStops() throws {
    guard Denalid.ready() else { return }
    let stopped = try Self.run(
      Denalid.executable, ["run", Denalid.guest("hello")], environment: ["DENALI_SECCOMP_TEST_VIOLATION": "worker"])
    #expect(stopped.status == 159, "\(stopped.stderr)")
    #expect(stopped.stderr.contains("denalid: seccomp: the worker thread (tid "), "\(stopped.stderr)")
    #expect(stopped.stderr.contains("made system call openat (257)"), "\(stopped.stderr)")
    #expect(!stopped.stdout.contains("hello from denali"), "no guest ran on the worker")
    // The same hook with the filters off: the openat goes through, and the guest runs. (What the test would see
    // if the filters were missing.)
    let unfiltered = try Self.run(
      Denalid.executable, ["run", Denalid.guest("hello")],
      environment: ["DENALI_SECCOMP_TEST_VIOLATION": "worker", "DENALI_SECCOMP": "off"])
    #expect(unfiltered.status == 0, "\(unfiltered.stderr)")
    #expect(unfiltered.stderr.contains("the worker thread's openat was not stopped"), "\(unfiltered.stderr)")
    #expect(unfiltered.stdout.contains("hello from denali"))
  }

  @Test("in the daemon too: a worker's openat stops denalid serve, with the same log line")
  func daemonWorkerOpenatStops() throws {
    guard Denalid.ready() else { return }
    let directory = "/tmp/denali-confinement-\(getpid())-\(Int.random(in: 0..<1_000_000))"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try FileManager.default.createDirectory(atPath: directory + "/state", withIntermediateDirectories: true)
    try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory)
    try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory + "/state")
    // The hook fires as each worker starts, before any guest: the daemon stops during its start.
    let stopped = try Self.run(
      Denalid.executable,
      [
        "serve", "--socket", directory + "/d.sock", "--socket-group", "", "--state-dir", directory + "/state",
        "--image-dir", directory, "--memory-budget", "64MiB",
      ], environment: ["DENALI_SECCOMP_TEST_VIOLATION": "worker"])
    #expect(stopped.status == 159, "\(stopped.stderr)")
    #expect(stopped.stderr.contains("denalid: seccomp: the worker thread (tid "), "\(stopped.stderr)")
    #expect(stopped.stderr.contains("made system call openat (257)"), "\(stopped.stderr)")
  }

  @Test("every thread of a running daemon has a seccomp filter, and the daemon stops cleanly under them")
  func everyThreadFiltered() throws {
    guard Denalid.ready(guests: ["hello", "idler"]) else { return }
    let daemon = try DaemonProcess()
    try daemon.start()
    defer { if daemon.isRunning { daemon.kill() } }
    let spawned = try daemon.client(["spawn", "idler.elf", "--count", "3"])
    #expect(spawned.status == 0, "\(spawned.stderr)")
    guard let pid = daemon.pid else { return }
    let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
    #expect(tasks.count >= 6, "\(tasks)")
    var unfiltered: [String] = []
    for task in tasks {
      guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8) else {
        continue
      }
      let name = status.split(separator: "\n").first { $0.hasPrefix("Name:") } ?? ""
      // Seccomp: 2 is filter mode; KVM's own kernel workers (kvm-nx-lpage-*) are not the daemon's threads.
      if !status.contains("\nSeccomp:\t2\n") && !name.contains("kvm") { unfiltered.append("\(task) \(name)") }
    }
    #expect(unfiltered.isEmpty, "threads without a filter: \(unfiltered)")
    #expect(daemon.terminate() == 0, "\(daemon.log)")
    #expect(daemon.log.contains("system-call filters on"), "\(daemon.log)")
  }

  /// The shell steps that start `denalid serve` as uid/gid 65534 in a private mount namespace where /dev/kvm and
  /// /dev/net/tun are device nodes that user owns (the host's stay as they are), with `capabilities` (setpriv's
  /// +cap list: inheritable, ambient and bounding) and `serveArguments`; its pid is $daemon, its log $dir/log.
  /// What the unit's sandbox does that a mount namespace can do is done too: the file system read-only but for
  /// the state and runtime directories (ProtectSystem=strict, ReadWritePaths=), /proc/sys read-only
  /// (ProtectKernelTunables=yes).
  static func unprivilegedDaemonScript(directory: String, capabilities: String, serveArguments: String) -> String {
    let capabilityFlags =
      capabilities.isEmpty
      ? "--inh-caps=-all --bounding-set=-all"
      : "--inh-caps=-all,\(capabilities) --ambient-caps=\(capabilities) --bounding-set=-all,\(capabilities)"
    return """
      dir=\(directory)
      mkdir -p $dir/state/images $dir/run $dir/dev
      cp \(Denalid.guest("hello")) $dir/state/images/
      chmod 755 $dir; chown -R 65534:65534 $dir/state $dir/run; chmod 700 $dir/state $dir/run
      unshare -m --propagation private sh -c "
        mount -t tmpfs -o mode=755 tmpfs $dir/dev
        mknod -m 600 $dir/dev/kvm c 10 232; mknod -m 600 $dir/dev/tun c 10 200
        chown 65534:65534 $dir/dev/kvm $dir/dev/tun
        mount --bind $dir/dev/kvm /dev/kvm; mount --bind $dir/dev/tun /dev/net/tun
        mount --bind $dir/state $dir/state; mount --bind $dir/run $dir/run
        mount -o remount,bind,ro /; mount --bind /proc/sys /proc/sys; mount -o remount,bind,ro /proc/sys
        exec setpriv --reuid=65534 --regid=65534 --clear-groups \(capabilityFlags) \(Denalid.executable) serve \\
          --socket $dir/run/d.sock --socket-group '' --state-dir $dir/state --image-dir $dir/state/images \\
          --memory-budget 64MiB \(serveArguments)
      " >$dir/log 2>&1 &
      daemon=$!
      for i in $(seq 300); do grep -q 'listening on' $dir/log && break; kill -0 $daemon || break; sleep 0.1; done
      """
  }

  static func available() -> Bool {
    guard Denalid.ready(), getuid() == 0 else {
      print("skipping: the unprivileged daemon tests need root (to make the user's device nodes) and /dev/kvm")
      return false
    }
    return NetworkNamespace.which("setpriv") != nil && NetworkNamespace.which("unshare") != nil
  }

  @Test("denalid serve as an unprivileged user (uid 65534) with access to /dev/kvm runs a VM, with no capability")
  func unprivilegedDaemon() throws {
    guard Self.available() else { return }
    let directory = "/tmp/denali-unprivileged-\(getpid())-\(Int.random(in: 0..<1_000_000))"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let script =
      Self.unprivilegedDaemonScript(directory: directory, capabilities: "", serveArguments: "")
        + """

        \(Denalid.executable) spawn --socket $dir/run/d.sock hello.elf >/dev/null
        for i in $(seq 100); do \(Denalid.executable) logs --socket $dir/run/d.sock 1 | grep -q hello && break; sleep 0.1; done
        echo "console: $(\(Denalid.executable) logs --socket $dir/run/d.sock 1)"
        grep -E '^(Uid|CapEff|CapPrm|CapAmb|NoNewPrivs|Seccomp):' /proc/$daemon/status
        kill -TERM $daemon; wait $daemon; echo "exit: $?"
        cat $dir/log
        """
    let result = try Self.run("/bin/sh", ["-c", script], limit: .seconds(120))
    #expect(result.stdout.contains("console: hello from denali"), "\(result.stdout)\(result.stderr)")
    #expect(result.stdout.contains("Uid:\t65534\t65534\t65534\t65534"), "\(result.stdout)")
    #expect(result.stdout.contains("CapEff:\t0000000000000000"), "\(result.stdout)")
    #expect(result.stdout.contains("NoNewPrivs:\t1"), "\(result.stdout)")
    #expect(result.stdout.contains("Seccomp:\t2"), "the main thread has its filter: \(result.stdout)")
    #expect(result.stdout.contains("exit: 0"), "\(result.stdout)\(result.stderr)")
  }

  @Test("the uplink's TAP device is made by an unprivileged daemon given only CAP_NET_ADMIN, which it then drops")
  func unprivilegedUplink() throws {
    guard Self.available(), NetworkNamespace.available() else { return }
    let namespace = try NetworkNamespace()
    let directory = "/tmp/denali-unprivileged-\(getpid())-\(Int.random(in: 0..<1_000_000))"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let script =
      Self.unprivilegedDaemonScript(
        directory: directory, capabilities: "+net_admin", serveArguments: "--network 10.78.0.0/24 --uplink 'tap utap0'")
        + """

        ip -br address show utap0
        grep -E "^(Uid|CapEff|CapPrm|CapAmb):" /proc/$daemon/status
        kill -TERM $daemon; wait $daemon; echo "exit: $?"
        cat $dir/log
        """
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try script.write(toFile: directory + "/test.sh", atomically: true, encoding: .utf8)
    let ip = NetworkNamespace.which("ip") ?? "/usr/sbin/ip"
    let result = try Self.run(
      ip, ["netns", "exec", namespace.name, "/bin/sh", directory + "/test.sh"], limit: .seconds(120))
    #expect(result.stdout.contains("10.78.0.1/24"), "the TAP device has its address: \(result.stdout)\(result.stderr)")
    #expect(result.stdout.contains("Uid:\t65534"), "\(result.stdout)")
    // Started with CAP_NET_ADMIN (ambient), running with none.
    #expect(result.stdout.contains("CapEff:\t0000000000000000"), "\(result.stdout)")
    #expect(result.stdout.contains("CapPrm:\t0000000000000000"), "\(result.stdout)")
    #expect(result.stdout.contains("CapAmb:\t0000000000000000"), "\(result.stdout)")
    #expect(result.stdout.contains("uplink tap utap0 at 10.78.0.1/24"), "\(result.stdout)")
    #expect(result.stdout.contains("exit: 0"), "\(result.stdout)\(result.stderr)")
  }
}
