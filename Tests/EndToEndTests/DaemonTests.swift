// DaemonTests.swift: `denalid serve` with the real engine, driven by the `denalid` client commands: VMs created,
// inspected, followed and killed through the API; hostile guests and bad images; restart after SIGTERM and SIGKILL.
import Foundation
import Testing

@Suite("denalid serve", .serialized)
struct DaemonTests {
  /// The `count N` values in a console log, in order.
  static func counts(in text: String) -> [Int] {
    text.split(separator: "\n").compactMap { line in
      line.hasPrefix("count ") ? Int(line.dropFirst("count ".count)) : nil
    }
  }

  /// True when `values` is `first, first + 1, ...` with no gap and no repeat.
  static func isContiguous(_ values: [Int]) -> Bool {
    zip(values, values.dropFirst()).allSatisfy { $1 == $0 + 1 }
  }

  @Test("a VM created through the API runs; inspect and logs report its exit, console and start latency")
  func createInspectLogs() throws {
    guard Denalid.ready(guests: ["hello"]) else { return }
    let daemon = try DaemonProcess()
    try daemon.start()
    let spawn = try daemon.client([
      "spawn", "hello.elf", "--name", "greeter", "--memory", "2MiB", "--", "from", "the", "api",
    ])
    #expect(spawn.status == 0, "\(spawn.stderr)")
    try daemon.waitForVMs("greeter to exit") { $0.first?["state"] as? String == "exited" }
    let info = try daemon.inspect("greeter")
    #expect(info["exit_status"] as? Int == 0)
    #expect(info["name"] as? String == "greeter")
    #expect((info["hypercalls"] as? Int ?? 0) >= 2)
    #expect((info["start_latency_ns"] as? Int ?? 0) > 0)
    #expect(info["restored_from"] as? String == "image")
    let logs = try daemon.client(["logs", "greeter"])
    #expect(logs.status == 0)
    #expect(logs.stdout == "hello from denali from the api\n", "\(logs.stdout)")
    let stats = try daemon.client(["stats", "--json"])
    #expect(stats.stdout.contains("\"vms_created_total\":1"), "\(stats.stdout)")
    // Health names the build, as `denalid --version` does: "denalid VERSION (commit COMMIT|unknown)".
    let health = try daemon.health()
    let commit = health["commit"] as? String ?? "unknown"
    let version = try Denalid.run(["--version"])
    #expect(version.stdout == "denalid \(health["version"] as? String ?? "?") (commit \(commit))\n", "\(health)")
    #expect(health["commit"] != nil, "commit is always there (null when unknown)")
    if let built = ProcessInfo.processInfo.environment["DENALI_GIT_COMMIT"], !built.isEmpty {
      #expect(commit == built, "make test builds from commit \(built)")
    }
    #expect(daemon.terminate() == 0)
  }

  @Test("kill stops a VM wherever it is (idle, swapped out) and a second kill is refused")
  func kill() throws {
    guard Denalid.ready(guests: ["idler"]) else { return }
    let daemon = try DaemonProcess(flags: ["--memory-budget", "4MiB"])
    try daemon.start()
    // Two idlers in room for one: one of them is always swapped out or waiting.
    #expect(
      try daemon.client(["spawn", "idler.elf", "--count", "2", "--name", "sleepy", "--memory", "2MiB", "--", "20"])
        .status == 0)
    try daemon.waitForVMs("both idlers to have run") { vms in
      vms.count == 2 && vms.allSatisfy { ($0["hypercalls"] as? Int ?? 0) > 0 }
    }
    for name in ["sleepy-1", "sleepy-2"] {
      let kill = try daemon.client(["kill", name])
      #expect(kill.status == 0, "\(kill.stderr)")
    }
    try daemon.waitForVMs("both idlers to be killed") { $0.allSatisfy { $0["state"] as? String == "killed" } }
    let again = try daemon.client(["kill", "sleepy-1"])
    #expect(again.status != 0)
    #expect(again.stderr.contains("already finished"), "\(again.stderr)")
    let missing = try daemon.client(["inspect", "nobody"])
    #expect(missing.status != 0)
    #expect(missing.stderr.contains("no vm \"nobody\""), "\(missing.stderr)")
    #expect(daemon.terminate() == 0)
  }

  @Test("logs --follow streams a VM's console as it runs and ends when the VM does")
  func followLogs() throws {
    guard Denalid.ready(guests: ["counter"]) else { return }
    let daemon = try DaemonProcess()
    try daemon.start()
    #expect(
      try daemon.client([
        "spawn", "counter.elf", "--name", "ticker", "--memory", "2MiB", "--", "interval-ms=30", "limit=12",
      ]).status == 0)
    let follow = try daemon.client(["logs", "ticker", "--follow"], limit: .seconds(60))
    #expect(follow.status == 0, "\(follow.stderr)")
    #expect(Self.counts(in: follow.stdout) == Array(1...12), "\(follow.stdout)")
    #expect(follow.stdout.hasSuffix("done 12\n"), "\(follow.stdout)")
    #expect(daemon.terminate() == 0)
  }

  @Test("a hostile guest ends alone: its neighbour keeps counting and the daemon stays healthy")
  func hostileGuest() throws {
    guard Denalid.ready(guests: ["counter", "evil"]) else { return }
    let daemon = try DaemonProcess()
    try daemon.start()
    #expect(
      try daemon.client(["spawn", "counter.elf", "--name", "steady", "--memory", "2MiB", "--", "interval-ms=20"]).status
        == 0)
    for attack in ["mmio-read", "triple", "sse", "io-other-port", "hc-unknown", "pagetable-escape"] {
      _ = try daemon.client(["spawn", "evil.elf", "--name", "evil-\(attack)", "--memory", "2MiB", "--", attack])
    }
    let vms = try daemon.waitForVMs("the evil guests to end") { vms in
      vms.filter { ($0["name"] as? String ?? "").hasPrefix("evil-") }.allSatisfy {
        $0["state"] as? String == "faulted" || $0["state"] as? String == "exited"
      }
    }
    #expect(
      vms.filter { $0["state"] as? String == "faulted" }.count >= 3,
      "\(vms.map { ($0["name"] ?? "", $0["state"] ?? "", $0["fault"] ?? "") })")
    let before = Self.counts(in: try daemon.client(["logs", "steady"]).stdout).last ?? 0
    Thread.sleep(forTimeInterval: 0.5)
    let after = Self.counts(in: try daemon.client(["logs", "steady"]).stdout)
    #expect((after.last ?? 0) > before)
    #expect(Self.isContiguous(after))
    #expect(try daemon.inspect("steady")["state"] as? String != "faulted")
    #expect(daemon.terminate() == 0)
  }

  @Test("images are refused clearly when they are not guests or lie outside the image directories")
  func badImages() throws {
    guard Denalid.ready(guests: ["hello"]) else { return }
    let images = "/tmp/denali-images-\(getpid())-\(Int.random(in: 0..<1_000_000))"
    try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: images)
    defer { try? FileManager.default.removeItem(atPath: images) }
    try Data("this is not an ELF file".utf8).write(to: URL(fileURLWithPath: images + "/garbage.elf"))
    try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: images + "/garbage.elf")
    let daemon = try DaemonProcess(flags: ["--image-dir", images])
    try daemon.start()
    let garbage = try daemon.client(["spawn", images + "/garbage.elf"])
    #expect(garbage.status != 0)
    #expect(garbage.stderr.contains("not a usable guest image"), "\(garbage.stderr)")
    let outside = try daemon.client(["spawn", "/etc/passwd"])
    #expect(outside.status != 0)
    #expect(outside.stderr.contains("image"), "\(outside.stderr)")
    #expect(try daemon.vms().isEmpty)
    #expect(daemon.terminate() == 0)
  }

  @Test("a daemon started with umask 0777 still keeps its state: creates, swaps out at SIGTERM and resumes")
  func hostileUmask() throws {
    guard Denalid.ready(guests: ["counter"]) else { return }
    let daemon = try DaemonProcess(umask: "0777")
    try daemon.start()
    let spawn = try daemon.client(["spawn", "counter.elf", "--count", "3", "--memory", "2MiB", "--", "interval-ms=50"])
    #expect(spawn.status == 0, "\(spawn.stderr)")
    try daemon.waitForVMs("every counter to tick twice") { vms in
      vms.count == 3 && vms.allSatisfy { ($0["hypercalls"] as? Int ?? 0) >= 4 }
    }
    #expect(daemon.terminate() == 0)
    #expect(daemon.log.contains("saved 3 VM records (3 live)"), "\(daemon.log)")
    #expect(!FileManager.default.fileExists(atPath: daemon.socket), "the socket file is removed at stop")
    try daemon.start()
    #expect(daemon.log.contains("restarting 3 VMs after a clean stop: 3 from their swap image"), "\(daemon.log)")
    #expect(daemon.terminate() == 0)
  }

  @Test("--stop-with-parent: a daemon whose starter exits stops cleanly instead of running on orphaned")
  func stopsWithParent() throws {
    guard Denalid.ready(guests: ["idler"]) else { return }
    let daemon = try DaemonProcess()
    // A shell starts the daemon, waits for its socket, prints its pid and exits: the daemon is orphaned.
    let shell = Process()
    shell.executableURL = URL(fileURLWithPath: "/bin/sh")
    shell.arguments =
      [
        "-c", "socket=$1 log=$2; shift 2; \"$@\" 2>\"$log\" & until [ -S \"$socket\" ]; do sleep 0.05; done; echo $!",
        "sh", daemon.socket, daemon.directory + "/log", Denalid.executable,
      ] + daemon.serveArguments
    let output = Pipe()
    shell.standardOutput = output
    try shell.run()
    shell.waitUntilExit()
    let pidText = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let pid = try #require(pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)), "shell printed \(pidText)")
    // Gone means no process, or a zombie waiting for whoever adopted it.
    func running() -> Bool {
      guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
      return !stat.contains(") Z ")
    }
    let deadline = ContinuousClock.now + .seconds(20)
    while running(), ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
    if running() { Glibc.kill(pid, SIGKILL) }
    let log = (try? String(contentsOfFile: daemon.directory + "/log", encoding: .utf8)) ?? ""
    #expect(log.contains("is gone: stopping") && log.contains("notice: stopped"), "\(log)")
    #expect(!FileManager.default.fileExists(atPath: daemon.socket), "a clean stop removes the socket")
  }

  @Test("a state directory the daemon cannot use without capabilities stops it at start with a clear error")
  func unusableStateDirectory() throws {
    guard Denalid.ready(guests: ["hello"]) else { return }
    let daemon = try DaemonProcess()
    try FileManager.default.createDirectory(atPath: daemon.stateDirectory, withIntermediateDirectories: false)
    try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: daemon.stateDirectory)
    let status = try Denalid.run(daemon.serveArguments, limit: .seconds(60))
    #expect(status.status == 125, "\(status.stderr)")
    // As root the engine is built with capabilities and the check after the drop refuses; as another user the
    // state directory cannot even be opened.
    #expect(
      status.stderr.contains("is not writable by the daemon without capabilities")
        || status.stderr.contains("Permission denied"), "\(status.stderr)")
    #expect(!FileManager.default.fileExists(atPath: daemon.socket), "the socket file is removed")
  }

  @Test("SIGTERM swaps every VM out and records the table; after a restart 200 counters continue where they were")
  func restartWithoutLoss() throws {
    guard Denalid.ready(guests: ["counter"]) else { return }
    let daemon = try DaemonProcess()
    try daemon.start()
    let spawn = try daemon.client([
      "spawn", "counter.elf", "--count", "200", "--memory", "2MiB", "--", "interval-ms=400",
    ])
    #expect(spawn.status == 0, "\(spawn.stderr)")
    // Each tick is an idle and a console write: wait for a few ticks everywhere.
    try daemon.waitForVMs("every counter to tick 3 times") { vms in
      vms.count == 200 && vms.allSatisfy { ($0["hypercalls"] as? Int ?? 0) >= 6 }
    }
    #expect(daemon.terminate() == 0)
    #expect(daemon.log.contains("saved 200 VM records (200 live)"), "\(daemon.log)")
    try daemon.start()
    #expect(
      daemon.log.contains("restarting 200 VMs after a clean stop: 200 from their swap image, 0 from their image"),
      "\(daemon.log)")
    let restored = try daemon.vms()
    #expect(restored.count == 200)
    #expect(restored.allSatisfy { $0["restored_from"] as? String == "swap" && $0["restarts"] as? Int == 1 })
    // Every console (kept across the clean stop) must read 1, 2, 3, ... with nothing lost or repeated, and go
    // on past where it stopped.
    var pending = Set(restored.compactMap { $0["id"] as? Int })
    var stoppedAt: [Int: Int] = [:]
    for id in pending {
      let counts = Self.counts(in: try daemon.client(["logs", String(id)]).stdout)
      stoppedAt[id] = counts.last ?? 0
      #expect(counts.first == 1 && Self.isContiguous(counts), "vm \(id): \(counts)")
    }
    let deadline = ContinuousClock.now + .seconds(60)
    while !pending.isEmpty, ContinuousClock.now < deadline {
      for id in pending {
        let counts = Self.counts(in: try daemon.client(["logs", String(id)]).stdout)
        #expect(counts.first == 1 && Self.isContiguous(counts), "vm \(id): \(counts)")
        if (counts.last ?? 0) >= (stoppedAt[id] ?? 0) + 3 { pending.remove(id) }
      }
    }
    #expect(pending.isEmpty, "counters that did not continue: \(pending.sorted())")
    #expect(daemon.terminate() == 0)
  }

  @Test("after a clean restart idling VMs stay swapped out until their idle ends; busy ones are swapped in")
  func restartKeepsIdlersOut() throws {
    guard Denalid.ready(guests: ["idler", "counter"]) else { return }
    let daemon = try DaemonProcess()
    try daemon.start()
    let freshKilobytes = try #require(daemon.residentKilobytes)
    // Idlers that wake every 10 minutes: after the restart none may be woken early, so none is swapped in.
    let idlers = 300
    #expect(
      try daemon.client([
        "spawn", "idler.elf", "--count", String(idlers), "--name", "idler", "--memory", "2MiB", "--", "600000",
      ]).status == 0)
    #expect(
      try daemon.client(["spawn", "counter.elf", "--name", "ticker", "--memory", "2MiB", "--", "interval-ms=100"])
        .status == 0)
    // An idler whose 8 s idle must end after the restart when its remaining time has passed, not at once.
    let alarmSpawned = ContinuousClock.now
    #expect(try daemon.client(["spawn", "idler.elf", "--name", "alarm", "--memory", "2MiB", "--", "8000"]).status == 0)
    let before = try daemon.waitForVMs("every idler to idle and the counter to tick") { vms in
      vms.count == idlers + 2
        && vms.allSatisfy {
          ($0["name"] as? String == "ticker") ? ($0["hypercalls"] as? Int ?? 0) >= 4 : $0["state"] as? String == "idle"
        }
    }
    let hypercallsBefore = Dictionary(
      uniqueKeysWithValues: before.compactMap { vm in
        (vm["id"] as? Int).map { ($0, vm["hypercalls"] as? Int ?? 0) }
      })
    let stopped = ContinuousClock.now
    #expect(daemon.terminate() == 0)
    let restarting = ContinuousClock.now
    try daemon.start()
    let restarted = ContinuousClock.now
    let tickerBefore = try daemon.inspect("ticker")["hypercalls"] as? Int ?? 0
    // The counter is swapped in and goes on; the idlers stay on disk, untouched.
    try daemon.waitForVMs("the counter to tick again after the restart") { vms in
      vms.contains { $0["name"] as? String == "ticker" && ($0["hypercalls"] as? Int ?? 0) >= tickerBefore + 6 }
    }
    let stats = try daemon.client(["stats", "--json"]).stdout
    for vm in try daemon.vms() where vm["name"] as? String == "idler" {
      let id = vm["id"] as? Int ?? -1
      #expect(vm["state"] as? String == "swapped_out", "idler \(id) after the restart: \(vm)")
      #expect(vm["hypercalls"] as? Int == hypercallsBefore[id], "idler \(id) ran after the restart: \(vm)")
    }
    let object = try JSONSerialization.jsonObject(with: Data(stats.utf8)) as? [String: Any]
    #expect((object?["swap_ins_total"] as? Int ?? -1) <= 1, "only the counter is swapped in: \(stats)")
    // VMs swapped out since the restart cost the daemon a few KiB each: they share one loaded image (a copy
    // per VM, ~90 KiB for the idler, would show here).
    let restartedKilobytes = try #require(daemon.residentKilobytes)
    #expect(
      restartedKilobytes - freshKilobytes < idlers * 40,
      "after the restart \(restartedKilobytes) KiB, fresh \(freshKilobytes) KiB, for \(idlers) swapped-out VMs")
    // The alarm's guest clock ran at most (stopped - alarmSpawned) before the stop, and at least that less
    // its boot: its idle ends about 8 s - that after the restart.
    let alarmHypercalls = try daemon.inspect("alarm")["hypercalls"] as? Int ?? 0
    let remaining = Duration.seconds(8) - (stopped - alarmSpawned)
    var woke: ContinuousClock.Instant?
    while woke == nil, ContinuousClock.now < restarted + remaining + .seconds(10) {
      if (try daemon.inspect("alarm")["hypercalls"] as? Int ?? 0) > alarmHypercalls { woke = ContinuousClock.now }
      Thread.sleep(forTimeInterval: 0.05)
    }
    let wokeAt = try #require(woke, "the alarm never woke after the restart")
    // The guest clock may also have run during the stop, until the alarm was written out (a loaded host can take
    // a second for that): at least 8 s - (restarting - alarmSpawned) remained.
    let leastRemaining = Duration.seconds(8) - (restarting - alarmSpawned)
    #expect(
      wokeAt >= restarting + leastRemaining - .milliseconds(300),
      "woke \(wokeAt - restarting) after the restart began; \(leastRemaining) to \(remaining) remained")
    #expect(
      wokeAt <= restarted + remaining + .seconds(4),
      "woke \(wokeAt - restarted) after the restart; \(remaining) remained")
    #expect(daemon.terminate() == 0)
  }

  @Test(
    "after SIGKILL every VM restarts from its last complete swap image, else from its image, and inspect says which")
  func restartAfterCrash() throws {
    guard Denalid.ready(guests: ["counter"]) else { return }
    // 30 counters in room for 8: the gatekeeper keeps swapping them.
    let daemon = try DaemonProcess(flags: ["--memory-budget", "16MiB"])
    try daemon.start()
    #expect(
      try daemon.client(["spawn", "counter.elf", "--count", "30", "--memory", "2MiB", "--", "interval-ms=20"]).status
        == 0)
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
      let stats = try daemon.client(["stats", "--json"]).stdout
      if let data = stats.data(using: .utf8),
        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
        (object["swap_outs_total"] as? Int ?? 0) >= 60
      {
        break
      }
      Thread.sleep(forTimeInterval: 0.1)
    }
    daemon.kill()
    try daemon.start()
    #expect(daemon.log.contains("restarting 30 VMs after a crash"), "\(daemon.log)")
    let vms = try daemon.waitForVMs("every VM to print twice after the restart") { vms in
      vms.count == 30 && vms.allSatisfy { ($0["hypercalls"] as? Int ?? 0) >= 4 }
    }
    var fromSwap = 0
    for vm in vms {
      guard let id = vm["id"] as? Int else { continue }
      #expect(vm["restarts"] as? Int == 1)
      let counts = Self.counts(in: try daemon.client(["logs", String(id)]).stdout)
      #expect(Self.isContiguous(counts), "vm \(id): \(counts)")
      switch vm["restored_from"] as? String {
      case "image": #expect(counts.first == 1, "vm \(id) restarted from its image: \(counts)")
      case "swap": fromSwap += 1
      default: Issue.record("vm \(id): restored_from is \(vm["restored_from"] ?? "missing")")
      }
    }
    #expect(fromSwap > 0)
    #expect(daemon.terminate() == 0)
  }
}

@Suite("denalid serve on a full disk", .serialized)
struct DaemonFullDiskTests {
  @Test("a full state directory refuses new VMs with a clear error; running VMs, the daemon and its table survive")
  func fullStateDirectory() throws {
    guard Denalid.ready(guests: ["counter", "hello"]) else { return }
    let daemon = try DaemonProcess(flags: ["--memory-budget", "64MiB", "--max-vms", "100000"])
    try FileManager.default.createDirectory(atPath: daemon.stateDirectory, withIntermediateDirectories: true)
    let mount = Process()
    mount.executableURL = URL(fileURLWithPath: "/bin/mount")
    // Mode 0700: a tmpfs root is 1777 by default, which the daemon rightly refuses as its state directory.
    mount.arguments = ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", daemon.stateDirectory]
    try mount.run()
    mount.waitUntilExit()
    guard mount.terminationStatus == 0 else {
      if ProcessInfo.processInfo.environment["CI"] == "true" {
        Issue.record("cannot mount a tmpfs (root needed)")
      } else {
        print("skipping: cannot mount a tmpfs here (needs root)")
      }
      return
    }
    defer {
      let unmount = Process()
      unmount.executableURL = URL(fileURLWithPath: "/bin/umount")
      unmount.arguments = ["-l", daemon.stateDirectory]
      try? unmount.run()
      unmount.waitUntilExit()
    }
    try daemon.start()
    // Eight counters stay in memory (room for 32); VMs that exit at once fill the megabyte with journal lines.
    #expect(
      try daemon.client([
        "spawn", "counter.elf", "--count", "8", "--name", "first", "--memory", "2MiB", "--", "interval-ms=20",
      ]).status == 0)
    var refusal: DenalidResult?
    for batch in 0..<200 {
      let result = try daemon.client([
        "spawn", "hello.elf", "--count", "250", "--name", "filler\(batch)", "--memory", "2MiB",
      ])
      if result.status != 0 {
        refusal = result
        break
      }
    }
    guard let refusal else {
      Issue.record("50,000 VMs never filled a 1 MiB state directory")
      return
    }
    #expect(refusal.stderr.contains("No space left on device"), "\(refusal.stderr)")
    // The first counters go on counting, and the daemon still answers.
    let before = DaemonTests.counts(in: try daemon.client(["logs", "first-1"]).stdout).last ?? 0
    Thread.sleep(forTimeInterval: 1)
    let after = DaemonTests.counts(in: try daemon.client(["logs", "first-1"]).stdout)
    #expect((after.last ?? 0) > before, "\(after)")
    #expect(DaemonTests.isContiguous(after))
    #expect(try daemon.client(["stats"]).status == 0)
    let created = try daemon.vms().count
    // A stop on a full disk (no room to swap out or rewrite the table) loses no VM the daemon accepted: they come
    // back, the live ones restarted from their image when no swap image could be written.
    #expect(daemon.terminate() == 0)
    try daemon.start()
    let restored = try daemon.vms()
    #expect(restored.count == created)
    #expect(
      restored.filter { ($0["name"] as? String ?? "").hasPrefix("first-") }.allSatisfy { $0["restarts"] as? Int == 1 })
    #expect(daemon.terminate() == 0)
  }
}
