// SeccompProgramTests.swift: the filters' BPF, run by the kernel on throw-away threads. Refused calls fail with
// EPERM here (the daemon traps them instead), so each check sees the filter's decision without stopping the test.
import CSeccomp
import Foundation
import Glibc
import Synchronization
import Testing
import ThreadConfinement

@Suite("seccomp programs")
struct SeccompProgramTests {
  /// Runs `body` on a new thread after installing `rules` (refusals: EPERM); returns what `body` returned. The
  /// filter ends with the thread.
  static func filtered<R: Sendable>(_ rules: [SystemCallRule], _ body: @escaping @Sendable () -> R) -> (
    installed: Int32, result: R?
  ) {
    let outcome = Mutex<(Int32, R?)>((Int32(-1), R?.none))
    let thread = Thread {
      _ = seccomp_set_no_new_privs()
      let program = SeccompProgram(allowing: rules, otherwise: SECCOMP_RESULT_ERRNO | UInt32(EPERM))
      let installed = program.install()
      let result = installed == 0 ? body() : nil
      outcome.withLock { $0 = (installed, result) }
    }
    thread.start()
    while !thread.isFinished { usleep(1000) }
    return outcome.withLock { (installed: $0.0, result: $0.1) }
  }

  /// System call `number` with up to four integer arguments: its errno, 0 when it succeeded (a descriptor it
  /// returned is closed).
  static func call(_ number: Int32, _ arguments: Int...) -> Int32 {
    let padded = arguments + Array(repeating: 0, count: max(0, 4 - arguments.count))
    let result = seccomp_test_call(Int(number), padded[0], padded[1], padded[2], padded[3])
    if result < 0 { return Int32(-result) }
    if number == __NR_openat { close(Int32(result)) }
    return 0
  }

  /// `text` as a C string that lives for the process (the tests pass paths as integers).
  static func path(_ text: String) -> Int {
    Int(bitPattern: UnsafeRawPointer(strdup(text)))
  }

  /// What a thread needs to finish (the test's own thread machinery: locks, memory, exit).
  static let basics: [SystemCallRule] = [
    SystemCallRule(__NR_futex), SystemCallRule(__NR_mmap), SystemCallRule(__NR_munmap), SystemCallRule(__NR_madvise),
    SystemCallRule(__NR_mprotect), SystemCallRule(__NR_rt_sigprocmask), SystemCallRule(__NR_exit),
    SystemCallRule(__NR_brk), SystemCallRule(__NR_gettid), SystemCallRule(__NR_clock_gettime),
    SystemCallRule(__NR_clock_nanosleep), SystemCallRule(__NR_nanosleep), SystemCallRule(__NR_sched_yield),
  ]

  @Test("openat: AT_FDCWD refused, a directory descriptor allowed; the read-only alternative allows AT_FDCWD reads")
  func openatChecks() throws {
    let root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    defer { close(root) }
    let directoryOnly = Self.filtered(
      Self.basics + [
        SystemCallRule(__NR_close), SystemCallRule(__NR_openat, argument: 0, .not(UInt32(bitPattern: -100))),
      ]
    ) {
      [
        Self.call(__NR_openat, -100, Self.path("/etc/hostname"), Int(O_RDONLY | O_CLOEXEC)),
        Self.call(__NR_openat, Int(root), Self.path("etc"), Int(O_RDONLY | O_DIRECTORY | O_CLOEXEC)),
      ]
    }
    #expect(directoryOnly.installed == 0)
    #expect(directoryOnly.result == [EPERM, 0], "openat(AT_FDCWD) refused, openat(dirfd) allowed")

    let readOnly = SystemCallRule.Condition(2, .clear(UInt32(O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)))
    let either = Self.filtered(
      Self.basics + [
        SystemCallRule(__NR_close),
        SystemCallRule(
          __NR_openat, anyOf: [[SystemCallRule.Condition(0, .not(UInt32(bitPattern: -100)))], [readOnly]]),
      ]
    ) {
      [
        Self.call(__NR_openat, -100, Self.path("/etc/hostname"), Int(O_RDONLY | O_CLOEXEC)),
        Self.call(
          __NR_openat, -100, Self.path("/tmp/denali-seccomp-test-never"), Int(O_WRONLY | O_CREAT | O_CLOEXEC), 0o600),
      ]
    }
    #expect(either.result == [0, EPERM], "read-only anywhere, writing only under a directory descriptor")
    #expect(access("/tmp/denali-seccomp-test-never", F_OK) != 0)
  }

  @Test("ioctl: only the listed requests pass; tgkill: only this process and SIGUSR2; mmap: never executable")
  func argumentChecks() throws {
    let pid = getpid()
    let result = Self.filtered(
      Self.basics.filter { $0.number != __NR_mmap }
        + [
          SystemCallRule(__NR_ioctl, argument: 1, .oneOf([SECCOMP_KVM_RUN, SECCOMP_KVM_GET_REGS])),
          SystemCallRule(
            __NR_tgkill,
            anyOf: [[.init(0, .oneOf([UInt32(bitPattern: pid)])), .init(2, .oneOf([UInt32(SIGUSR2)]))]]),
          SystemCallRule(__NR_mmap, argument: 2, .clear(UInt32(PROT_EXEC))),
        ]
    ) {
      // On descriptor -1 an allowed request fails with EBADF from the kernel; a refused one with EPERM.
      let run = Self.call(__NR_ioctl, -1, Int(SECCOMP_KVM_RUN))
      let getRegisters = Self.call(__NR_ioctl, -1, Int(SECCOMP_KVM_GET_REGS))
      let createVM = Self.call(__NR_ioctl, -1, Int(SECCOMP_KVM_CREATE_VM))
      // A thread id that does not exist: ESRCH when the filter lets the call through.
      let ownProcess = Self.call(__NR_tgkill, Int(pid), 0x7fff_fff0, Int(SIGUSR2))
      let otherSignal = Self.call(__NR_tgkill, Int(pid), 0x7fff_fff0, Int(SIGTERM))
      let otherProcess = Self.call(__NR_tgkill, 1, 0x7fff_fff0, Int(SIGUSR2))
      let data = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
      let dataError = data == MAP_FAILED ? errno : 0
      if data != MAP_FAILED { munmap(data, 4096) }
      let code = mmap(nil, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
      let codeError = code == MAP_FAILED ? errno : 0
      return [run, getRegisters, createVM, ownProcess, otherSignal, otherProcess, dataError, codeError]
    }
    #expect(result.installed == 0)
    #expect(result.result == [EBADF, EBADF, EPERM, ESRCH, EPERM, EPERM, 0, EPERM], "\(result.result ?? [])")
  }

  @Test("a call listed with an error number fails with it; a call not listed gets the default")
  func failures() throws {
    let result = Self.filtered(Self.basics + [SystemCallRule(__NR_clone3, failingWith: ENOSYS)]) {
      [Self.call(__NR_clone3, 0, 0), Self.call(__NR_getppid)]
    }
    #expect(result.result == [ENOSYS, EPERM])
  }

  @Test("every role's program builds, allows exit, and refuses execve and ptrace")
  func roles() throws {
    for role in ThreadRole.allCases {
      let numbers = Set(role.rules.map(\.number))
      #expect(numbers.contains(__NR_exit) && numbers.contains(__NR_exit_group), "\(role)")
      #expect(
        !numbers.contains(__NR_execve) && !numbers.contains(__NR_ptrace) && !numbers.contains(__NR_rt_sigaction),
        "\(role)")
      #expect(role.program.instructions.count < 1024, "\(role)")
    }
    // The worker may run a vCPU but never create a VM.
    let worker = Self.filtered(ThreadRole.worker.rules.filter { $0.number != __NR_exit_group }) {
      [Self.call(__NR_ioctl, -1, Int(SECCOMP_KVM_RUN)), Self.call(__NR_ioctl, -1, Int(SECCOMP_KVM_CREATE_VM))]
    }
    #expect(worker.installed == 0)
    #expect(worker.result == [EBADF, EPERM])
  }
}
