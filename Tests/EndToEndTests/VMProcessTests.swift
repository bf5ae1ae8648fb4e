// VMProcessTests.swift: `denalid serve --vm-processes N`: VMs spread over N worker processes behind one control
// API: routing by id and name, names and limits kept daemon-wide, restart without loss, and a process that dies
// ending only its own VMs.
import Foundation
import Glibc
import Testing

@Suite("denalid serve --vm-processes", .serialized)
struct VMProcessTests {
  /// The pids of the daemon's child processes (its VM processes), from /proc.
  static func children(of pid: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> Int32? in
      guard let child = Int32(entry),
        let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
      else { return nil }
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      return fields.count > 1 && Int32(fields[1]) == pid ? child : nil
    }
  }

  /// The pid of VM process `index` among `children` (its command line ends `--vm-process INDEX`).
  static func vmProcess(_ index: Int, among children: [Int32]) -> Int32? {
    children.first { commandLine(of: $0).suffix(2) == ["--vm-process", String(index)] }
  }

  /// The words of process `pid`'s command line (none when it is gone).
  static func commandLine(of pid: Int32) -> [String] {
    let line = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
    return line.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
  }

  /// The pid of the VM process spawner among `children` (its command line ends `--vm-process-spawner`).
  static func spawner(among children: [Int32]) -> Int32? {
    children.first { commandLine(of: $0).last == "--vm-process-spawner" }
  }

  /// The pid of VM process `index` of the daemon `daemon`: its child, or (started again) its spawner's.
  static func vmProcess(_ index: Int, of daemon: Int32) -> Int32? {
    let children = Self.children(of: daemon)
    return vmProcess(index, among: children + (spawner(among: children).map { Self.children(of: $0) } ?? []))
  }

  /// Four counters named c-1 ... c-4 over a daemon's two VM processes: the names of process 0's and of process 1's.
  static func fourCounters(_ daemon: DaemonProcess) throws -> (inProcess0: [String], inProcess1: [String]) {
    let spawn = try daemon.client([
      "spawn", "counter.elf", "--count", "4", "--name", "c", "--memory", "2MiB", "--", "interval-ms=50",
    ])
    #expect(spawn.status == 0, "\(spawn.stderr)")
    let vms = try daemon.vms()
    let names = { (index: Int) in
      vms.filter { Self.process(of: $0["id"] as? Int ?? 0) == index }.compactMap { $0["name"] as? String }
    }
    #expect(names(0).count == 2 && names(1).count == 2)
    return (names(0), names(1))
  }

  /// The VM process a VM id belongs to (its leading digits).
  static func process(of id: Int) -> Int { id / 1_000_000_000_000 }

  @Test("VMs spread over three processes behind one API: ids name their process, names are unique daemon-wide")
  func spreadAndRoute() throws {
    guard Denalid.ready(guests: ["counter"]) else { return }
    let daemon = try DaemonProcess(flags: ["--vm-processes", "3"])
    try daemon.start()
    let workers = Self.children(of: daemon.pid ?? 0)
    #expect(workers.count == 4, "three VM processes and the spawner: \(workers)")
    #expect((0..<3).allSatisfy { Self.vmProcess($0, among: workers) != nil } && Self.spawner(among: workers) != nil)
    let spawn = try daemon.client([
      "spawn", "counter.elf", "--count", "6", "--name", "tick", "--memory", "2MiB", "--", "interval-ms=50",
    ])
    #expect(spawn.status == 0, "\(spawn.stderr)")
    let vms = try daemon.vms()
    #expect(vms.count == 6)
    let ids = vms.compactMap { $0["id"] as? Int }
    // Two VMs to each process (the least loaded takes the next), and every id is unique.
    #expect(Dictionary(grouping: ids, by: Self.process).mapValues(\.count) == [0: 2, 1: 2, 2: 2], "\(ids)")
    #expect(Set(ids).count == 6)
    // A name taken in another process is refused, and nothing is created.
    let taken = try daemon.client(["spawn", "counter.elf", "--name", "tick-5", "--memory", "2MiB"])
    #expect(taken.status != 0)
    #expect(taken.stderr.contains("tick-5") && taken.stderr.contains("already in use"), "\(taken.stderr)")
    #expect(try daemon.vms().count == 6)
    try daemon.waitForVMs("every counter to tick") { vms in
      vms.allSatisfy { ($0["hypercalls"] as? Int ?? 0) >= 6 }
    }
    // By name and by id, wherever the VM is.
    for vm in vms {
      guard let name = vm["name"] as? String, let id = vm["id"] as? Int else { continue }
      let logs = try daemon.client(["logs", name])
      #expect(logs.status == 0 && logs.stdout.contains("count 2"), "\(name): \(logs.stdout) \(logs.stderr)")
      #expect(try daemon.inspect(String(id))["name"] as? String == name)
    }
    guard let victim = vms.first(where: { Self.process(of: $0["id"] as? Int ?? 0) == 2 }),
      let victimName = victim["name"] as? String
    else {
      Issue.record("no VM in process 2")
      return
    }
    #expect(try daemon.client(["kill", victimName]).status == 0)
    #expect(try daemon.inspect(victimName)["state"] as? String == "killed")
    #expect(try daemon.client(["kill", victimName]).status != 0, "a second kill is refused")
    // An id in no process's range, and an unknown name, are not found.
    #expect(try daemon.client(["inspect", "99000000000001"]).stderr.contains("no vm"))
    #expect(try daemon.client(["inspect", "nobody"]).status != 0)
    // Statistics add up the processes.
    let stats = try daemon.client(["stats", "--json"])
    #expect(stats.stdout.contains("\"vms_created_total\":6"), "\(stats.stdout)")
    #expect(try daemon.health()["status"] as? String == "ok")
    // Followers that go away (a client killed mid-stream) are cancelled in their process; the daemon stays well.
    for _ in 0..<3 {
      let follower = Process()
      follower.executableURL = URL(fileURLWithPath: Denalid.executable)
      follower.arguments = ["logs", "tick-1", "--follow", "--socket", daemon.socket]
      follower.standardOutput = FileHandle.nullDevice
      follower.standardError = FileHandle.nullDevice
      try follower.run()
      Thread.sleep(forTimeInterval: 0.3)
      // SIGKILL: a child of the test process may inherit a mask that blocks SIGTERM.
      Glibc.kill(follower.processIdentifier, SIGKILL)
      follower.waitUntilExit()
    }
    #expect(try daemon.health()["status"] as? String == "ok")
    // A follow through a process streams the console and ends when its VM ends.
    #expect(
      try daemon.client([
        "spawn", "counter.elf", "--name", "short", "--memory", "2MiB", "--", "interval-ms=30", "limit=8",
      ]).status == 0)
    let follow = try daemon.client(["logs", "short", "--follow"], limit: .seconds(60))
    #expect(follow.status == 0, "\(follow.stderr)")
    #expect(DaemonTests.counts(in: follow.stdout) == Array(1...8), "\(follow.stdout)")
    #expect(daemon.terminate() == 0)
    // The VM processes and the spawner exit once the daemon has closed their sockets.
    let deadline = ContinuousClock.now + .seconds(30)
    while workers.contains(where: { Glibc.kill($0, 0) == 0 }), ContinuousClock.now < deadline {
      Thread.sleep(forTimeInterval: 0.05)
    }
    #expect(!workers.contains { Glibc.kill($0, 0) == 0 }, "VM processes left running: \(workers)")
  }

  @Test("max-vms holds across processes: a batch is cut at the daemon-wide limit")
  func limitsAcrossProcesses() throws {
    guard Denalid.ready(guests: ["idler"]) else { return }
    let daemon = try DaemonProcess(flags: ["--vm-processes", "2", "--max-vms", "5"])
    try daemon.start()
    let first = try daemon.client(["spawn", "idler.elf", "--count", "4", "--memory", "2MiB", "--", "60000"])
    #expect(first.status == 0, "\(first.stderr)")
    let second = try daemon.client(["spawn", "idler.elf", "--count", "4", "--memory", "2MiB", "--", "60000"])
    #expect(second.stderr.contains("max-vms"), "\(second.stderr)")
    #expect(try daemon.vms().count == 5)
    let third = try daemon.client(["spawn", "idler.elf", "--memory", "2MiB", "--", "60000"])
    #expect(third.status != 0 && third.stderr.contains("max-vms"), "\(third.stderr)")
    #expect(daemon.terminate() == 0)
  }

  @Test(
    "memory across processes: a VM larger than one process's share of the budget is refused, naming it; new VMs go to the process holding the least memory"
  )
  func memoryAcrossProcesses() throws {
    guard Denalid.ready(guests: ["idler"]) else { return }
    let daemon = try DaemonProcess(flags: [
      "--vm-processes", "2", "--memory-budget", "96MiB", "--max-memory-per-vm", "64MiB",
    ])
    try daemon.start()
    // 96 MiB over 2 processes: 48 MiB each, so a 64 MiB VM fits the daemon's budget but no process's.
    let big = try daemon.client(["spawn", "idler.elf", "--memory", "64MiB", "--", "60000"])
    #expect(big.status != 0 && big.stderr.contains("memory-budget / vm-processes"), "\(big.stderr)")
    #expect(try daemon.vms().isEmpty)
    let large = try daemon.client(["spawn", "idler.elf", "--memory", "32MiB", "--", "60000"])
    #expect(large.status == 0, "\(large.stderr)")
    let small = try daemon.client(["spawn", "idler.elf", "--count", "2", "--memory", "2MiB", "--", "60000"])
    #expect(small.status == 0, "\(small.stderr)")
    let vms = try daemon.vms()
    let largeProcess = vms.first { $0["memory_bytes"] as? Int == 32 << 20 }.flatMap { $0["id"] as? Int }.map(
      Self.process)
    let smallProcesses = Set(
      vms.filter { $0["memory_bytes"] as? Int == 2 << 20 }.compactMap { $0["id"] as? Int }.map(Self.process))
    #expect(largeProcess != nil && smallProcesses.count == 1 && !smallProcesses.contains(largeProcess ?? -1), "\(vms)")
    #expect(daemon.terminate() == 0)
  }

  @Test("SIGTERM stops every process cleanly; after a restart the counters of every process continue")
  func restartAcrossProcesses() throws {
    guard Denalid.ready(guests: ["counter"]) else { return }
    let daemon = try DaemonProcess(flags: ["--vm-processes", "3"])
    try daemon.start()
    #expect(
      try daemon.client(["spawn", "counter.elf", "--count", "30", "--memory", "2MiB", "--", "interval-ms=300"])
        .status == 0)
    try daemon.waitForVMs("every counter to tick twice") { vms in
      vms.count == 30 && vms.allSatisfy { ($0["hypercalls"] as? Int ?? 0) >= 4 }
    }
    let before = Set(try daemon.vms().compactMap { $0["id"] as? Int })
    #expect(daemon.terminate() == 0)
    #expect(daemon.log.components(separatedBy: "saved 10 VM records (10 live)").count == 4, "\(daemon.log)")
    try daemon.start()
    let restored = try daemon.vms()
    #expect(Set(restored.compactMap { $0["id"] as? Int }) == before)
    #expect(restored.allSatisfy { $0["restored_from"] as? String == "swap" })
    let stopped = try Dictionary(
      uniqueKeysWithValues: before.map { id in
        (id, DaemonTests.counts(in: try daemon.client(["logs", String(id)]).stdout).last ?? 0)
      })
    try daemon.waitForVMs("every counter to go on") { vms in
      vms.allSatisfy { vm in
        guard let id = vm["id"] as? Int else { return false }
        let counts = DaemonTests.counts(in: (try? daemon.client(["logs", String(id)]).stdout) ?? "")
        return (counts.last ?? 0) >= (stopped[id] ?? 0) + 2 && DaemonTests.isContiguous(counts)
      }
    }
    #expect(daemon.terminate() == 0)
    // Started again with fewer processes, the daemon refuses rather than leave VMs out unseen.
    let fewer = try DaemonProcess(flags: ["--vm-processes", "2"], sharing: daemon)
    let refused = try Denalid.run(fewer.serveArguments, limit: .seconds(60))
    #expect(refused.status != 0 && refused.stderr.contains("vm-processes = 3"), "\(refused.stderr)")
    #expect(refused.stderr.contains("10 live, 0 finished"), "\(refused.stderr)")
  }

  @Test(
    "a folder of a VM process beyond the count refuses a start only while its journal records VMs: once they are killed and not kept, fewer processes start and keep the other VMs"
  )
  func fewerProcessesOnceEmpty() throws {
    guard Denalid.ready(guests: ["idler"]) else { return }
    // A budget smaller than each process's VMs: some are out of memory (waiting or swapped out) at any time.
    let flags = ["--vm-processes", "3", "--keep-finished", "0", "--memory-budget", "12MiB"]
    let daemon = try DaemonProcess(flags: flags)
    try daemon.start()
    #expect(try daemon.client(["spawn", "idler.elf", "--count", "9", "--memory", "2MiB"]).status == 0)
    let outOfMemory: Set<String> = ["waiting_for_admission", "swapped_out"]
    try daemon.waitForVMs("nine idlers, one of process 2 out of memory") { vms in
      vms.count == 9
        && vms.contains {
          Self.process(of: $0["id"] as? Int ?? 0) == 2 && outOfMemory.contains($0["state"] as? String ?? "")
        }
    }
    let listed = try daemon.vms()
    let ids = listed.compactMap { $0["id"] as? Int }
    let third = ids.filter { Self.process(of: $0) == 2 }
    #expect(third.count == 3, "process 2 holds three of the VMs: \(ids)")
    let out = Set(listed.filter { outOfMemory.contains($0["state"] as? String ?? "") }.compactMap { $0["id"] as? Int })
    // Killing a VM not in memory ends it at once, and with keep-finished 0 its record goes with it: the kill still
    // answers with the VM, killed (it answered 404 before).
    for id in third.sorted(by: { out.contains($0) && !out.contains($1) }) {
      let killed = try daemon.client(["kill", String(id)])
      #expect(
        killed.status == 0 && killed.stdout.contains("killed"),
        "kill \(id) of \(ids): \(killed.stdout) \(killed.stderr)")
    }
    #expect(daemon.terminate() == 0)
    // The folder and its journal stay, recording nothing: no reason to refuse.
    let journal = daemon.stateDirectory + "/vm-process-2/vms.journal"
    #expect(FileManager.default.fileExists(atPath: journal))
    let fewer = try DaemonProcess(
      flags: ["--vm-processes", "2", "--keep-finished", "0", "--memory-budget", "12MiB"], sharing: daemon)
    try fewer.start()
    let kept = Set(try fewer.vms().compactMap { $0["id"] as? Int })
    #expect(kept == Set(ids).subtracting(third), "the other processes' VMs are all there")
    #expect(fewer.terminate() == 0)
    // A journal that cannot be read as one (a directory in its place) refuses, naming the folder.
    try FileManager.default.removeItem(atPath: journal)
    try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: false)
    let unreadable = try Denalid.run(fewer.serveArguments, limit: .seconds(60))
    #expect(
      unreadable.status != 0 && unreadable.stderr.contains("vm-process-2") && unreadable.stderr.contains("cannot tell"),
      "\(unreadable.stderr)")
  }

  @Test(
    "a VM process that dies ends only its own VMs: the daemon answers, health names it, the others count on, and creates go on in the live processes counting what the dead one held"
  )
  func processDeath() throws {
    guard Denalid.ready(guests: ["counter"]) else { return }
    let daemon = try DaemonProcess(flags: ["--vm-processes", "2", "--max-vms", "7"])
    try daemon.start()
    let (survivors, lost) = try Self.fourCounters(daemon)
    let children = Self.children(of: daemon.pid ?? 0)
    #expect(children.count == 3, "two VM processes and the spawner")
    guard let doomed = Self.vmProcess(1, among: children), let spawner = Self.spawner(among: children) else {
      Issue.record("no VM process 1 or no spawner among \(children)")
      return
    }
    // Without its spawner the daemon cannot start the process again: it stays dead (tried again, with backoff).
    Glibc.kill(spawner, SIGKILL)
    Glibc.kill(doomed, SIGKILL)
    Thread.sleep(forTimeInterval: 0.5)
    #expect(daemon.isRunning)
    let health = try daemon.client(["stats", "--json"])
    #expect(health.status == 0)
    let healthBody = try daemon.health()
    #expect(healthBody["status"] as? String != "ok", "\(healthBody)")
    #expect("\(healthBody)".contains("VM process 1"), "\(healthBody)")
    if let name = lost.first {
      let refused = try daemon.client(["kill", name])
      #expect(refused.status != 0)
    }
    for name in survivors {
      let first = DaemonTests.counts(in: try daemon.client(["logs", name]).stdout).last ?? 0
      Thread.sleep(forTimeInterval: 0.3)
      let later = DaemonTests.counts(in: try daemon.client(["logs", name]).stdout).last ?? 0
      #expect(later > first, "\(name) stopped counting at \(first)")
    }
    // Unnamed VMs are still created, all in the live process, and max-vms (7) still counts the 2 VMs the dead
    // process held (they come back at the next start): 2 + 2 + 3 = 7, so a batch of 5 is cut to 3.
    let more = try daemon.client(["spawn", "counter.elf", "--count", "5", "--memory", "2MiB", "--", "interval-ms=50"])
    #expect(more.stderr.contains("max-vms"), "\(more.stderr)")
    let now = try daemon.vms().compactMap { $0["id"] as? Int }
    #expect(now.count == 5 && now.allSatisfy { Self.process(of: $0) == 0 }, "\(now)")
    // A named VM is refused: only the dead process could tell whether it holds that name.
    let named = try daemon.client(["spawn", "counter.elf", "--name", "late", "--memory", "2MiB"])
    #expect(named.status != 0 && named.stderr.contains("VM process 1"), "\(named.stderr)")
    #expect(daemon.log.contains("could not be started again"), "\(daemon.log)")
    #expect(daemon.log.contains("it has stopped (killed by signal 9"), "the spawner's end is said: \(daemon.log)")
    #expect(Glibc.kill(spawner, 0) != 0, "the spawner is reaped, not left a zombie")
    _ = daemon.terminate()
  }

  @Test(
    "a VM process that dies is started again: its VMs come back and run, health is ok again, the other process's VMs never stop; a second death waits longer"
  )
  func processRestarted() throws {
    guard Denalid.ready(guests: ["counter"]) else { return }
    let daemon = try DaemonProcess(flags: ["--vm-processes", "2"])
    try daemon.start()
    let (survivors, lost) = try Self.fourCounters(daemon)
    var previous = Self.vmProcess(1, of: daemon.pid ?? 0)
    var kills: [ContinuousClock.Instant] = []
    for death in 1...2 {
      kills.append(.now)
      guard let doomed = previous else {
        Issue.record("no VM process 1 before death \(death)")
        return
      }
      let before = Dictionary(
        uniqueKeysWithValues: survivors.map {
          ($0, DaemonTests.counts(in: (try? daemon.client(["logs", $0]).stdout) ?? "").last ?? 0)
        })
      Glibc.kill(doomed, SIGKILL)
      // Back within the delay (0.5 s, then 1 s) and its journal's replay: healthy, a new pid, its VMs running.
      try daemon.waitForVMs("VM process 1 back after death \(death)") { list in
        guard let health = try? daemon.health(), health["status"] as? String == "ok" else { return false }
        let mine = list.filter { Self.process(of: $0["id"] as? Int ?? 0) == 1 }
        return mine.count == 2 && mine.allSatisfy { ($0["hypercalls"] as? Int ?? 0) >= 4 }
          && mine.allSatisfy { $0["restarts"] as? Int ?? 0 >= death }
      }
      let now = Self.vmProcess(1, of: daemon.pid ?? 0)
      #expect(now != nil && now != doomed, "a new VM process 1: \(String(describing: now)) after \(doomed)")
      previous = now
      for name in lost {
        let info = try daemon.client(["inspect", name, "--json"])
        #expect(info.status == 0, "\(name) is there again: \(info.stderr)")
      }
      for name in survivors {
        let later = DaemonTests.counts(in: try daemon.client(["logs", name]).stdout).last ?? 0
        #expect(later > before[name] ?? 0, "\(name) of the other process counted on")
      }
    }
    // How each ended is logged: the first by the daemon (its child), the second by the spawner (its child).
    #expect(daemon.log.contains("is gone (killed by signal 9"), "\(daemon.log)")
    #expect(daemon.log.contains("starting it again in 0.5 seconds"), "\(daemon.log)")
    // The second death came within a minute of the first restart (unless the host was slow beyond reason: the
    // delay then starts over), so it waits twice as long.
    if let first = kills.first, let second = kills.last, second - first < .seconds(55) {
      #expect(daemon.log.contains("starting it again in 1.0 seconds"), "the second death waits longer: \(daemon.log)")
    }
    #expect(daemon.log.contains(") killed by signal 9"), "the spawner reaped the second: \(daemon.log)")
    #expect(daemon.log.contains("started again: its VMs are back"), "\(daemon.log)")
    // Creates reach the process started again.
    #expect(try daemon.client(["spawn", "counter.elf", "--count", "2", "--memory", "2MiB"]).status == 0)
    #expect(try daemon.vms().filter { Self.process(of: $0["id"] as? Int ?? 0) == 1 }.count >= 3)
    #expect(daemon.terminate() == 0)
  }

  @Test(
    "crafted VM-process folders: a symbolic link is refused at start and nothing is written through it; other names are no VM process's"
  )
  func craftedFolders() throws {
    let daemon = try DaemonProcess(flags: ["--vm-processes", "2"])
    let outside = daemon.directory + "/outside"
    try FileManager.default.createDirectory(atPath: daemon.stateDirectory, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(
      atPath: daemon.stateDirectory + "/vm-process-1", withDestinationPath: outside)
    let linked = try Denalid.run(daemon.serveArguments, limit: .seconds(60))
    #expect(linked.status != 0 && linked.stderr.contains("vm-process-1"), "\(linked.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty, "nothing written through the link")
    // Names that only look like a VM process's folder are not taken for one: one process starts beside them.
    try FileManager.default.removeItem(atPath: daemon.stateDirectory + "/vm-process-1")
    for name in ["vm-process-+3", "vm-process-007", "vm-process-99999999999999999999", "vm-process-"] {
      try FileManager.default.createDirectory(
        atPath: daemon.stateDirectory + "/" + name, withIntermediateDirectories: true)
    }
    let single = try DaemonProcess(flags: [], sharing: daemon)
    try single.start()
    #expect(try single.client(["list"]).status == 0)
    #expect(single.terminate() == 0)
  }

  @Test(
    "with a network the VM-process count is kept for the state directory: written at the first start; another count, a crafted or linked record, or VMs of one process refuse the start"
  )
  func networkCountKept() throws {
    guard Denalid.ready(guests: ["idler"]) else { return }
    // A network without an uplink (no device, no traffic), in a documentation range.
    // 192.0.2.0/24 is the daemon's virtual switch only: no uplink, so no traffic leaves the daemon.
    let flags = ["--network", "192.0.2.0/24", "--vm-processes", "2"]
    let daemon = try DaemonProcess(flags: flags)
    let marker = daemon.stateDirectory + "/network-vm-processes"
    try daemon.start()
    #expect(try String(contentsOfFile: marker, encoding: .utf8) == "2\n")
    #expect(
      try daemon.client(["spawn", "idler.elf", "--network", "--count", "2", "--memory", "2MiB", "--", "60000"]).status
        == 0)
    #expect(daemon.terminate() == 0)
    for (content, expected) in [
      ("3\n", "vm-processes = 3"), ("two\n", "not a VM-process count"), ("", "not a VM-process count"),
    ] {
      try content.write(toFile: marker, atomically: false, encoding: .utf8)
      let refused = try Denalid.run(
        try DaemonProcess(flags: flags, sharing: daemon).serveArguments, limit: .seconds(60))
      #expect(refused.status != 0 && refused.stderr.contains(expected), "\(content): \(refused.stderr)")
    }
    try FileManager.default.removeItem(atPath: marker)
    try FileManager.default.createSymbolicLink(atPath: marker, withDestinationPath: "/dev/null")
    let linked = try Denalid.run(try DaemonProcess(flags: flags, sharing: daemon).serveArguments, limit: .seconds(60))
    #expect(linked.status != 0 && linked.stderr.contains("network-vm-processes"), "\(linked.stderr)")
    // One process may not start on addresses split for two either.
    try FileManager.default.removeItem(atPath: marker)
    try "2\n".write(toFile: marker, atomically: false, encoding: .utf8)
    let one = try Denalid.run(
      try DaemonProcess(flags: ["--network", "192.0.2.0/24"], sharing: daemon).serveArguments, limit: .seconds(60))
    #expect(one.status != 0 && one.stderr.contains("vm-processes = 2"), "\(one.stderr)")
    // No record: a directory whose VMs have no address may go to two processes; one whose VMs got addresses from
    // one process may not.
    let single = try DaemonProcess(flags: ["--network", "192.0.2.0/24"])
    try single.start()
    #expect(try single.client(["spawn", "idler.elf", "--memory", "2MiB", "--", "60000"]).status == 0)
    #expect(single.terminate() == 0)
    let unaddressed = try DaemonProcess(flags: flags, sharing: single)
    try unaddressed.start()
    #expect(unaddressed.terminate() == 0)
    let addressed = try DaemonProcess(flags: ["--network", "192.0.2.0/24"])
    try addressed.start()
    #expect(try addressed.client(["spawn", "idler.elf", "--network", "--memory", "2MiB", "--", "60000"]).status == 0)
    #expect(addressed.terminate() == 0)
    let split = try Denalid.run(try DaemonProcess(flags: flags, sharing: addressed).serveArguments, limit: .seconds(60))
    #expect(split.status != 0 && split.stderr.contains("vm-processes = 1"), "\(split.stderr)")
  }

  @Test("vm-processes is checked: out of range is refused at start with the key named; with a network it is taken")
  func configurationChecked() throws {
    let range = try Denalid.run(["serve", "--config", "/dev/null", "--vm-processes", "65", "--check-config"])
    #expect(range.status == 2 && range.stderr.contains("vm-processes"), "\(range.stderr)")
    let network = try Denalid.run([
      "serve", "--config", "/dev/null", "--vm-processes", "2", "--network", "192.0.2.0/24", "--check-config",
    ])
    #expect(network.status == 0, "\(network.stderr)")
    // The unit's limits count each VM process's own memory and threads.
    func limits(_ flags: [String]) throws -> (memory: Int, tasks: Int) {
      let text = try Denalid.run(["serve", "--config", "/dev/null", "--unit-limits"] + flags).stdout
      let value = { (key: String) in
        text.split(separator: "\n").first { $0.hasPrefix(key) }.flatMap {
          Int($0.dropFirst(key.count).filter(\.isNumber))
        }
      }
      return (value("MemoryMax=") ?? 0, value("TasksMax=") ?? 0)
    }
    let one = try limits([])
    let ten = try limits(["--vm-processes", "10"])
    #expect(ten.memory >= one.memory + 10 * 128 && ten.tasks >= one.tasks + 10 * 16, "\(one) \(ten)")
    let stray = try Denalid.run(["serve", "--config", "/dev/null", "--vm-process", "3", "--socket", "/nonexistent/s"])
    #expect(stray.status == 2, "\(stray.stderr)")
  }
}
