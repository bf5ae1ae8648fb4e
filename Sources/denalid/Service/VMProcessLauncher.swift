// VMProcessLauncher.swift: `vm-processes = N` above 1: the daemon starts N copies of itself, each `denalid serve
// --vm-process K` with the same configuration and a socket to the daemon as descriptor 3, and routes the control
// API to them (WorkerPoolBackend).
import DenaliCommandLine
import Glibc
import SystemCalls

/// Starts the VM processes.
enum VMProcessLauncher {
  /// The descriptor a VM process finds its channel to the daemon at.
  static let channelDescriptor: Int32 = 3
  /// The descriptor a VM process finds its network trunk to the daemon's hub at (with a network).
  static let trunkDescriptor: Int32 = 4

  /// One started VM process: its pid, the daemon's end of its channel, and of its network trunk (if any).
  struct Started {
    /// The process id.
    let pid: Int32
    /// The daemon's end of the channel.
    let descriptor: Int32
    /// The daemon's end of the trunk (a `SOCK_SEQPACKET` socket), nil without one.
    let trunk: Int32?
  }

  /// A VM process could not be started.
  struct LaunchError: Error, CustomStringConvertible {
    /// What failed.
    let description: String
  }

  /// Starts `count` VM processes running this executable with `serve` and `arguments` (the daemon's own
  /// configuration words) plus `--vm-process K`, each with a network trunk when `trunks`; returns what
  /// `Started` says. Every other descriptor of the daemon (the control socket among them) is closed in the
  /// children.
  static func launch(count: Int, arguments: [String], trunks: Bool) throws(LaunchError) -> [Started] {
    markEveryDescriptorCloseOnExec()
    var started: [Started] = []
    for index in 0..<count {
      do {
        started.append(try launch(index: index, arguments: arguments, trunk: trunks))
      } catch {
        abandon(started)
        throw error
      }
    }
    return started
  }

  /// Starts the spawner (`VMProcessSpawner`), running this executable with `serve` and `arguments` plus
  /// `--vm-process-spawner`, its socket at descriptor 3; returns its pid and the daemon's end of that socket.
  /// Every other descriptor of the daemon is closed in it.
  static func startSpawner(arguments: [String]) throws(LaunchError) -> (pid: Int32, descriptor: Int32) {
    markEveryDescriptorCloseOnExec()
    let ends = try socketPair(Int32(SOCK_SEQPACKET.rawValue))
    let spawned = spawnThisExecutable(
      ["serve"] + arguments + ["--vm-process-spawner"], giving: [(ends[1], VMProcessSpawner.socketDescriptor)])
    close(ends[1])
    guard spawned.status == 0 else {
      close(ends[0])
      throw LaunchError(description: "starting the VM process spawner: \(SystemCallError.text(for: spawned.status))")
    }
    return (spawned.pid, ends[0])
  }

  /// Starts this executable (`/proc/self/exe`, named denalid) with `words`, each descriptor of `given` moved onto
  /// its number in the child (dup2 there clears close-on-exec; every other descriptor above 2 is close-on-exec);
  /// its pid, and posix_spawn's status (0, or an errno).
  private static func spawnThisExecutable(_ words: [String], giving given: [(Int32, Int32)]) -> (
    pid: pid_t, status: Int32
  ) {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for (descriptor, number) in given { posix_spawn_file_actions_adddup2(&actions, descriptor, number) }
    var argv: [UnsafeMutablePointer<CChar>?] = (["denalid"] + words).map { strdup($0) } + [nil]
    defer { for word in argv { free(word) } }
    var pid: pid_t = 0
    let status = posix_spawn(&pid, "/proc/self/exe", &actions, nil, &argv, environ)
    return (pid, status)
  }

  /// Gives up processes started when the start cannot go on: closes the daemon's ends and kills them.
  static func abandon(_ started: [Started]) {
    for process in started {
      close(process.descriptor)
      if let trunk = process.trunk { close(trunk) }
      kill(process.pid, SIGKILL)
    }
  }

  /// A socket pair of `type`, both ends close-on-exec.
  private static func socketPair(_ type: Int32) throws(LaunchError) -> [Int32] {
    var ends: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
      throw LaunchError(description: "socketpair: \(SystemCallError.text(for: errno))")
    }
    return ends
  }

  /// Starts VM process `index` (the daemon at its start, the spawner later).
  static func launch(index: Int, arguments: [String], trunk: Bool) throws(LaunchError) -> Started {
    let ends = try socketPair(Int32(SOCK_STREAM.rawValue))
    var trunkEnds: [Int32]?
    do throws(LaunchError) {
      trunkEnds = trunk ? try socketPair(Int32(SOCK_SEQPACKET.rawValue)) : nil
    } catch {
      close(ends[0])
      close(ends[1])
      throw error
    }
    let given = [(ends[1], channelDescriptor)] + (trunkEnds.map { [($0[1], trunkDescriptor)] } ?? [])
    let spawned = spawnThisExecutable(["serve"] + arguments + ["--vm-process", String(index)], giving: given)
    close(ends[1])
    if let trunkEnds { close(trunkEnds[1]) }
    guard spawned.status == 0 else {
      close(ends[0])
      if let trunkEnds { close(trunkEnds[0]) }
      throw LaunchError(description: "starting VM process \(index): \(SystemCallError.text(for: spawned.status))")
    }
    return Started(pid: spawned.pid, descriptor: ends[0], trunk: trunkEnds?[0])
  }

  /// Sets close-on-exec on every descriptor above standard error, so the VM processes inherit none of the
  /// daemon's (the control socket, the log).
  static func markEveryDescriptorCloseOnExec() {
    guard let directory = opendir("/proc/self/fd") else { return }
    defer { closedir(directory) }
    let own = dirfd(directory)
    while let entry = readdir(directory) {
      // SAFETY: d_name is a NUL-terminated array inside the entry readdir returned, read before the next call.
      let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
      }
      guard let descriptor = Int32(name), descriptor > 2, descriptor != own else { continue }
      let flags = fcntl(descriptor, F_GETFD)
      if flags >= 0 { _ = fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC) }
    }
  }
}
