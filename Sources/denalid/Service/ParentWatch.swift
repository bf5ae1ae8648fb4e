// ParentWatch.swift: `serve --stop-with-parent`: a daemon started by a test or a benchmark stops when the
// process that started it is gone, instead of running on, orphaned, with its VMs.
import Foundation
import Glibc
import Logging
import ThreadConfinement

/// Stops the daemon, as SIGTERM would, once it has been reparented (its starter exited or was killed).
enum ParentWatch {
  /// How often the parent is checked.
  static let interval: useconds_t = 200_000

  /// Starts a thread that sends SIGTERM to this process when its parent is no longer `parent`. Start it
  /// after the capability drop (threads keep the capabilities they were created with).
  static func start(parent: pid_t, logger: Logger) {
    let thread = Thread {
      ThreadConfinement.enter(.parentWatch)
      while getppid() == parent { usleep(interval) }
      logger.notice("the process that started the daemon (pid \(parent)) is gone: stopping")
      kill(getpid(), SIGTERM)
    }
    thread.name = "parent-watch"
    thread.start()
  }
}
