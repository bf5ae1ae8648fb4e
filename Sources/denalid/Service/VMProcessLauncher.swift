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

  /// A VM process could not be started.
  struct LaunchError: Error, CustomStringConvertible {
    /// What failed.
    let description: String
  }

  /// Starts `count` VM processes running this executable with `serve` and `arguments` (the daemon's own
  /// configuration words) plus `--vm-process K`; returns each one's pid and the daemon's end of its channel.
  /// Every other descriptor of the daemon (the control socket among them) is closed in the children.
  static func launch(count: Int, arguments: [String]) throws(LaunchError) -> [(pid: Int32, descriptor: Int32)] {
    markEveryDescriptorCloseOnExec()
    var started: [(pid: Int32, descriptor: Int32)] = []
    for index in 0..<count {
      do {
        started.append(try launch(index: index, arguments: arguments))
      } catch {
        for process in started {
          close(process.descriptor)
          kill(process.pid, SIGKILL)
        }
        throw error
      }
    }
    return started
  }

  /// Starts VM process `index`.
  private static func launch(index: Int, arguments: [String]) throws(LaunchError) -> (pid: Int32, descriptor: Int32) {
    var ends: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
      throw LaunchError(description: "socketpair: \(SystemCallError.text(for: errno))")
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    // dup2 onto descriptor 3 clears close-on-exec there; every other descriptor above 2 is close-on-exec.
    posix_spawn_file_actions_adddup2(&actions, ends[1], channelDescriptor)
    let words = ["denalid", "serve"] + arguments + ["--vm-process", String(index)]
    var argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
    defer { for word in argv { free(word) } }
    var pid: pid_t = 0
    let status = posix_spawn(&pid, "/proc/self/exe", &actions, nil, &argv, environ)
    close(ends[1])
    guard status == 0 else {
      close(ends[0])
      throw LaunchError(description: "starting VM process \(index): \(SystemCallError.text(for: status))")
    }
    return (pid, ends[0])
  }

  /// Sets close-on-exec on every descriptor above standard error, so the VM processes inherit none of the
  /// daemon's (the control socket, the log).
  private static func markEveryDescriptorCloseOnExec() {
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
