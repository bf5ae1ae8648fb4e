// ThreadConfinement.swift: the process-wide switch for the per-thread seccomp filters, and the call each thread
// makes when it starts its work.
import CSeccomp
import Glibc

/// Per-thread seccomp filters. Off until the daemon turns them on (`enable`), so that the layers' own tests and
/// benchmarks, which start the same threads in process, run unfiltered; `denalid run` and `denalid serve` turn
/// them on after setup (DENALI_SECCOMP=off leaves them off, for debugging). Each thread the daemon starts calls
/// `enter(_:)` before its first unit of work; the main thread calls it last, once every other thread exists
/// (a thread inherits the filter of the thread that creates it).
public enum ThreadConfinement {
  /// What the process does with the filters.
  public enum Mode: Sendable, Equatable {
    /// No filter (the default, and DENALI_SECCOMP=off).
    case off
    /// Filters installed; a forbidden call is reported on standard error and stops the process (exit status 159).
    case enforce
    /// No filter; each thread marks its role in `strace -f` output (a failing openat(-1, "denali-seccomp-role:R"))
    /// for measuring what each role calls (DENALI_SECCOMP=trace).
    case trace
  }

  /// The mode and the test hook, written once by `enable` before the threads start; read by every thread after.
  nonisolated(unsafe) private static var settings: (mode: Mode, violation: ThreadRole?) = (.off, nil)
  private static let settingsLock = PThreadLock()

  /// The mode the process is in.
  public static var mode: Mode { settingsLock.withLock { settings.mode } }

  /// The mode DENALI_SECCOMP asks for: "off", "trace", else enforce.
  public static var requestedMode: Mode {
    switch getenv("DENALI_SECCOMP").map({ String(cString: $0) }) {
    case "off": .off
    case "trace": .trace
    default: .enforce
    }
  }

  /// The role DENALI_SECCOMP_TEST_VIOLATION names ("worker", "swap", ...): a test hook that makes the first thread
  /// of that role try openat(AT_FDCWD, "/etc/hostname") right after its filter is installed.
  public static var requestedViolation: ThreadRole? {
    getenv("DENALI_SECCOMP_TEST_VIOLATION").flatMap { ThreadRole(rawValue: String(cString: $0)) }
  }

  /// Turns the filters on (or trace mode) for every thread that enters a role from now on: fixes malloc's arena
  /// limit (else glibc reads /sys lazily, from any thread), sets no_new_privs and installs the SIGSYS reporter. Returns nil, or why the filters cannot be installed.
  public static func enable(_ mode: Mode, violation: ThreadRole? = nil, reportPrefix: String = "denalid: ") -> String? {
    if mode != .off { _ = seccomp_fix_malloc_arena_limit() }
    if mode == .enforce {
      let noNewPrivileges = seccomp_set_no_new_privs()
      if noNewPrivileges != 0 {
        return "prctl(PR_SET_NO_NEW_PRIVS) failed: \(String(cString: strerror(-noNewPrivileges)))"
      }
      let reporter = seccomp_install_reporter(reportPrefix)
      if reporter != 0 { return "sigaction(SIGSYS) failed: \(String(cString: strerror(-reporter)))" }
    }
    settingsLock.withLock { settings = (mode, violation) }
    return nil
  }

  /// Confines the calling thread to `role`'s system calls (when the filters are on). A filter that cannot be
  /// installed stops the process: a daemon thread must never run unconfined by accident.
  public static func enter(_ role: ThreadRole) {
    let (mode, violation) = settingsLock.withLock { settings }
    switch mode {
    case .off:
      break
    case .trace:
      seccomp_trace_marker("denali-seccomp-role:\(role.rawValue)")
    case .enforce:
      // SAFETY: a StaticString's bytes are a NUL-terminated literal that lives as long as the process.
      role.reportName.withUTF8Buffer { bytes in
        bytes.withMemoryRebound(to: CChar.self) { seccomp_set_thread_role($0.baseAddress) }
      }
      let result = role.program.install()
      if result != 0 {
        let line =
          "denalid: cannot install the seccomp filter of the \(role.rawValue) thread: \(String(cString: strerror(-result)))\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        _exit(125)
      }
    }
    if violation == role {
      // The test hook: a call this role's filter forbids. Never returns while the filters are on.
      let result = seccomp_test_open("/etc/hostname")
      if result >= 0 { close(Int32(result)) }
      let line = "denalid: seccomp test: the \(role.rawValue) thread's openat was not stopped (filters \(mode))\n"
      _ = line.withCString { write(2, $0, strlen($0)) }
    }
  }
}
