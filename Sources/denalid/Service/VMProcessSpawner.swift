// VMProcessSpawner.swift: starting a VM process again after it died. The daemon cannot (once it runs, its
// filters forbid starting programs), so with `vm-processes` above 1 it starts, before dropping privileges,
// `denalid serve ... --vm-process-spawner`: a small process that starts VM processes on the daemon's request
// and passes the daemon's ends of their channel and trunk back over a socket.
import CNetwork
import DenaliCommandLine
import DenaliCore
import DenaliEngine
import Foundation
import Glibc
import Logging
import SystemCalls

/// The spawner process (`run`) and the daemon's handle on it (`Client`).
///
/// Requests and answers are `SOCK_SEQPACKET` messages on the spawner's descriptor 3. A request is a VM process's
/// index (4 bytes, little-endian). The answer is 8 bytes: the new process's pid (a negative errno when it could
/// not be started) and the index, with the daemon's end of its channel and, with a network, of its trunk
/// attached (`SCM_RIGHTS`). The spawner gives up its capabilities (and sets no_new_privs) before its first
/// request, so what it starts has no more privilege than the daemon itself: the VM process needs none (its
/// `/dev/kvm` and state folder are the daemon's user's). It stops when the daemon's end closes (the daemon
/// stopped or died); a thread of its own reaps what it started and logs how each ended.
enum VMProcessSpawner {
  /// The descriptor the spawner finds its socket to the daemon at.
  static let socketDescriptor: Int32 = 3
  /// The answer's length.
  static let answerLength = 8

  /// Runs the spawner for `configuration`, starting VM processes with `arguments` (the daemon's configuration
  /// words); returns its exit status.
  static func run(configuration: DaemonConfiguration, arguments: [String]) -> Int32 {
    // A terminal's or a unit's signal reaches the whole group: the spawner ends with the daemon's socket.
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    LoggingSystem.bootstrap { label in
      var handler = JournalLogHandler(label: label + "[vm-process-spawner]")
      handler.logLevel = LogLevelName.parse(configuration.logLevel) ?? .info
      return handler
    }
    let logger = Logger(label: "denalid")
    do {
      _ = try Privileges.drop()
    } catch {
      logger.critical("cannot drop privileges: \(error)")
      return ExitStatus.hostError
    }
    VMProcessLauncher.markEveryDescriptorCloseOnExec()
    let trunks = configuration.engine.network != nil
    let started = Locked<[Int32: Int]>([:])
    startReaper(started: started, logger: logger)
    while true {
      var request: UInt32 = 0
      let count = read(socketDescriptor, &request, 4)
      if count < 0 && errno == EINTR { continue }
      guard count == 4 else { return count == 0 ? 0 : ExitStatus.hostError }
      let index = Int(UInt32(littleEndian: request))
      var answer: [Int32] = [-EINVAL, Int32(truncatingIfNeeded: index)]
      var passed: [Int32] = []
      if index < configuration.vmProcesses {
        do {
          let process = try VMProcessLauncher.launch(index: index, arguments: arguments, trunk: trunks)
          answer[0] = process.pid
          passed = [process.descriptor] + (process.trunk.map { [$0] } ?? [])
          started.withLock { $0[process.pid] = index }
          logger.notice("started VM process \(index) again (pid \(process.pid))")
        } catch {
          logger.error("cannot start VM process \(index): \(error)")
          answer[0] = -EAGAIN
        }
      } else {
        logger.error("asked for VM process \(index), not one of \(configuration.vmProcesses)")
      }
      let sent = answer.withUnsafeBytes { bytes in
        passed.withUnsafeBufferPointer { fds in
          cnet_send_with_descriptors(
            socketDescriptor, bytes.baseAddress, bytes.count, fds.baseAddress, Int32(fds.count))
        }
      }
      for descriptor in passed { close(descriptor) }
      guard sent == answerLength else { return sent < 0 && -sent == EPIPE ? 0 : ExitStatus.hostError }
    }
  }

  /// Reaps every process the spawner started, on a thread of its own, and logs how each ended.
  private static func startReaper(started: Locked<[Int32: Int]>, logger: Logger) {
    let thread = Thread {
      while true {
        var status: Int32 = 0
        let pid = waitpid(-1, &status, 0)
        if pid > 0 {
          let index = started.withLock { $0.removeValue(forKey: pid) }
          let end = ProcessEnd(waitStatus: status).map { "\($0)" } ?? "ended"
          logger.notice("VM process \(index.map(String.init) ?? "?") (pid \(pid)) \(end)")
        } else if errno != EINTR {
          Thread.sleep(forTimeInterval: 0.2)  // no child yet
        }
      }
    }
    thread.name = "reaper"
    thread.start()
  }

  /// The daemon's end of the spawner: one request at a time.
  final class Client: Sendable {
    /// The socket, held under the lock for a whole request and its answer (-1 once closed).
    private let socket: Locked<Int32>
    /// The spawner's pid (the daemon's child: reaped here if it ends).
    private let pid: Int32
    /// How long an answer may take.
    static let answerTimeoutMilliseconds: Int32 = 30_000

    /// A client of spawner `pid` at the other end of `descriptor` (owned).
    init(pid: Int32, descriptor: Int32) {
      self.pid = pid
      socket = Locked(descriptor)
    }

    deinit { close() }

    /// Asks for VM process `index` to be started again; returns its pid and the daemon's ends of its channel and
    /// trunk (`trunk` says whether one must come).
    func respawn(_ index: Int, trunk: Bool) throws(VMProcessLauncher.LaunchError) -> (
      pid: Int32, descriptor: Int32, trunk: Int32?
    ) {
      try socket.withLock { (fd) throws(VMProcessLauncher.LaunchError) in
        guard fd >= 0 else { throw .init(description: "the VM process spawner is closed") }
        var request = UInt32(index).littleEndian
        guard write(fd, &request, 4) == 4 else {
          let code = errno
          throw .init(
            description: "asking the VM process spawner: "
              + (code == EPIPE || code == ECONNRESET ? stoppedReason() : SystemCallError.text(for: code)))
        }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var ready: Int32
        repeat {
          ready = poll(&poller, 1, Self.answerTimeoutMilliseconds)
        } while ready < 0 && errno == EINTR
        guard ready > 0 else {
          // No answer in time: the spawner is stuck. Later requests would take this answer for theirs: close.
          Glibc.close(fd)
          fd = -1
          throw .init(description: "the VM process spawner did not answer")
        }
        var answer: [Int32] = [0, 0]
        var fds: [Int32] = [-1, -1]
        var received: Int32 = 0
        let count = answer.withUnsafeMutableBytes { bytes in
          fds.withUnsafeMutableBufferPointer { storage in
            cnet_receive_with_descriptors(fd, bytes.baseAddress, bytes.count, storage.baseAddress, 2, &received)
          }
        }
        let descriptors = Array(fds.prefix(Int(max(received, 0))))
        guard count == VMProcessSpawner.answerLength, answer[1] == Int32(truncatingIfNeeded: index), answer[0] > 0,
          descriptors.count == (trunk ? 2 : 1)
        else {
          for descriptor in descriptors { Glibc.close(descriptor) }
          let stopped = count == 0 || count == -Int(ECONNRESET) || count == -Int(EPIPE)
          let reason =
            stopped
            ? stoppedReason()
            : count < 0
              ? SystemCallError.text(for: Int32(-count))
              : answer[0] < 0 ? SystemCallError.text(for: -answer[0]) : "a wrong answer"
          throw .init(description: "the VM process spawner could not start VM process \(index): \(reason)")
        }
        return (answer[0], descriptors[0], trunk ? descriptors[1] : nil)
      }
    }

    /// Says that the spawner stopped and how (it is reaped here; nobody starts it again).
    private func stoppedReason() -> String {
      let end = ProcessEnd.reap(pid, patience: .milliseconds(100)).map { " (\($0))" } ?? ""
      return "it has stopped\(end); a VM process that dies stays down until the daemon restarts"
    }

    /// Closes the socket: the spawner stops.
    func close() {
      socket.withLock { fd in
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
      }
    }
  }
}
