// ThreadRole.swift: each kind of daemon thread and the system calls its seccomp filter allows (the lists and
// why each call is there: Docs/ARCHITECTURE.md, "System-call filters").
import CSeccomp
import Glibc

/// A kind of thread of `denalid run` / `denalid serve`, by what it does.
public enum ThreadRole: String, Sendable, CaseIterable {
  /// A scheduler worker: runs vCPU slices (KVM_RUN and the register ioctls), hypercalls and devices.
  case worker
  /// A swap thread: boots VMs from their image, swaps them in and out (files in the state directory, KVM set-up).
  case swap
  /// The KVM layer's shell pool thread: resets emptied machine shells (KVM VM, vCPU, memory) for their next guest.
  case shellReset = "shell-reset"
  /// The scheduler's timer thread: fires idle and timeout deadlines, kicks VMs at the end of their quantum.
  case preemptor
  /// The KVM layer's run watchdog: kicks vCPUs that stay inside one KVM_RUN for a whole period.
  case watchdog
  /// The virtual switch's thread and the TAP uplink's thread: frames between queues and the TAP descriptor.
  case network
  /// The engine's thread that removes finished VMs' ports from the switch.
  case portRelease = "port-release"
  /// The control API's event loop (SwiftNIO): accepts connections, reads requests, writes responses.
  case apiLoop = "api-loop"
  /// The control API's blocking pool: runs backend calls (create: image files, journal; list; kill; ...).
  case apiPool = "api-pool"
  /// `--stop-with-parent`'s thread: polls the parent's pid and signals the process.
  case parentWatch = "parent-watch"
  /// A VM worker process's channel threads (and the daemon's readers of them): run engine calls as the API pool
  /// does, and stop the engine as the main thread does.
  case channel
  /// The main thread once everything runs: waits for the end (a signal, or every VM), then stops.
  case main

  /// The name the violation report gives the thread.
  var reportName: StaticString {
    switch self {
    case .worker: "worker"
    case .swap: "swap"
    case .preemptor: "preemptor"
    case .watchdog: "watchdog"
    case .shellReset: "shell-reset"
    case .network: "network"
    case .portRelease: "port-release"
    case .apiLoop: "api-loop"
    case .apiPool: "api-pool"
    case .parentWatch: "parent-watch"
    case .main: "main"
    case .channel: "channel"
    }
  }

  /// The role's BPF program.
  public var program: SeccompProgram { SeccompProgram(allowing: rules) }

  /// The calls the role's filter allows, most frequent first (the filter tests them in order). Measured with
  /// scripts/seccomp-trace.py on `strace -f` of runs and daemons (DENALI_SECCOMP=trace).
  public var rules: [SystemCallRule] {
    let kick = Self.kick(process: getpid())
    switch self {
    case .worker:
      return [SystemCallRule(__NR_ioctl, argument: 1, .oneOf(Self.vcpuRequests))] + Self.common + [kick]
        + Self.diskIO + [Self.unlinkInDirectory, SystemCallRule(__NR_ftruncate)]
    case .swap:
      return [
        SystemCallRule(__NR_ioctl, argument: 1, .oneOf(Self.vcpuRequests + Self.swapRequests + Self.setupRequests))
      ]
        + Self.common + [kick] + Self.diskIO + Self.directoryFiles + [Self.openInDirectory]
        + [SystemCallRule(__NR_memfd_create)]  // an image's memory template, made at its first boot
    case .shellReset:
      return [
        SystemCallRule(__NR_ioctl, argument: 1, .oneOf(Self.vcpuRequests + Self.swapRequests + Self.setupRequests))
      ]
        + Self.common
    case .preemptor, .watchdog:
      return Self.common + [kick]
    case .network:
      return Self.common + [
        SystemCallRule(__NR_read), SystemCallRule(__NR_readv), SystemCallRule(__NR_writev), SystemCallRule(__NR_poll),
        SystemCallRule(__NR_ppoll), kick,
      ]
    case .portRelease:
      return Self.common
    case .apiLoop:
      return Self.common + Self.sockets + Self.userDatabase + [Self.openReadOnly] + Self.threadCreation
    case .apiPool:
      return Self.common + [kick] + Self.diskIO + Self.directoryFiles + Self.userDatabase + [
        SystemCallRule(__NR_openat, anyOf: [[Self.relativeToDirectory], [Self.readOnly]]),
        SystemCallRule(__NR_readlink), SystemCallRule(__NR_read),
      ] + Self.threadCreation
    case .parentWatch:
      return Self.common + [
        SystemCallRule(__NR_getppid),
        SystemCallRule(
          __NR_kill, anyOf: [[.init(0, .oneOf([UInt32(bitPattern: getpid())])), .init(1, .oneOf([UInt32(SIGTERM)]))]]),
      ]
    case .channel:
      // The daemon's reader of a VM process that died starts it again: asks the spawner (a write, then poll and
      // recvmsg for the descriptors it passes back) and starts the new process's reader and its trunk's, whose
      // threads inherit this filter (poll) and add their own (seccomp: a filter added can only forbid more).
      return ThreadRole.apiPool.rules + ThreadRole.main.rules + [
        SystemCallRule(__NR_poll), SystemCallRule(__NR_ppoll), SystemCallRule(__NR_recvmsg),
        SystemCallRule(__NR_seccomp, argument: 0, .oneOf([1])),  // SECCOMP_SET_MODE_FILTER
        // Reaping the process that died, without blocking (its end goes to the log).
        SystemCallRule(__NR_wait4, argument: 2, .oneOf([UInt32(WNOHANG)])),
      ]
    case .main:
      return Self.common + [kick] + Self.diskIO + Self.directoryFiles
        + [SystemCallRule(__NR_openat, anyOf: [[Self.relativeToDirectory], [Self.readOnly]])]
        + [SystemCallRule(__NR_rt_sigtimedwait), SystemCallRule(__NR_read), SystemCallRule(__NR_writev)]
        + [SystemCallRule(__NR_shutdown)]  // closing the channels to VM processes (vm-processes)
        + Self.threadCreation
    }
  }

  /// AT_FDCWD as the filters see it (the low 32 bits of -100).
  static let currentDirectory = UInt32(bitPattern: -100)
  /// An openat/renameat/unlinkat whose first argument is a directory descriptor, not the working directory.
  static let relativeToDirectory = SystemCallRule.Condition(0, .not(currentDirectory))
  /// An openat that neither writes nor creates.
  static let readOnly = SystemCallRule.Condition(2, .clear(UInt32(O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)))
  /// openat under a directory descriptor the thread holds.
  static let openInDirectory = SystemCallRule(__NR_openat, anyOf: [[relativeToDirectory]])
  /// unlinkat under a directory descriptor the thread holds.
  static let unlinkInDirectory = SystemCallRule(__NR_unlinkat, anyOf: [[relativeToDirectory]])
  /// openat of any path, read only (the user database, /sys).
  static let openReadOnly = SystemCallRule(__NR_openat, anyOf: [[readOnly]])

  /// What every thread needs: locks and condition variables, clocks and sleeps (thread CPU clocks are system
  /// calls), memory (never executable), signal masks and returns, log lines on standard error, random numbers
  /// (Swift's hashing and temporary names), closing (whichever thread drops the last reference to a VM or a swap
  /// file closes its descriptors: the preemptor ends a swapped-out VM at its timeout), ending.
  static let common: [SystemCallRule] = [
    SystemCallRule(__NR_futex),
    SystemCallRule(__NR_clock_gettime),
    SystemCallRule(__NR_write),
    SystemCallRule(__NR_clock_nanosleep),
    SystemCallRule(__NR_nanosleep),
    SystemCallRule(__NR_sched_yield),
    SystemCallRule(__NR_mmap, argument: 2, .clear(UInt32(PROT_EXEC))),
    SystemCallRule(__NR_mprotect, argument: 2, .clear(UInt32(PROT_EXEC))),
    SystemCallRule(__NR_munmap),
    SystemCallRule(__NR_madvise),
    SystemCallRule(__NR_brk),
    SystemCallRule(__NR_rt_sigprocmask),
    SystemCallRule(__NR_rt_sigreturn),
    SystemCallRule(__NR_getpid),
    SystemCallRule(__NR_gettid),
    SystemCallRule(__NR_getrandom),
    SystemCallRule(__NR_close),
    SystemCallRule(__NR_exit),
    SystemCallRule(__NR_exit_group),
  ]

  /// Kicking a vCPU: SIGUSR2 to a thread of this process.
  static func kick(process: pid_t) -> SystemCallRule {
    SystemCallRule(
      __NR_tgkill, anyOf: [[.init(0, .oneOf([UInt32(bitPattern: process)])), .init(2, .oneOf([UInt32(SIGUSR2)]))]])
  }

  /// Reads and writes at offsets in files the thread holds (virtual disks, swap files, the journal), and closing.
  static let diskIO: [SystemCallRule] = [
    SystemCallRule(__NR_pread64),
    SystemCallRule(__NR_pwrite64),
    SystemCallRule(__NR_preadv),
    SystemCallRule(__NR_pwritev),
    SystemCallRule(__NR_fdatasync),
    SystemCallRule(__NR_fsync),
    SystemCallRule(__NR_close),
  ]

  /// cachestat(2) (Linux 6.5), which this libc's headers do not name yet.
  static let cachestat: Int32 = 451

  /// Files under directories the thread holds (the state directory's swap/, disks/, images-store/): never
  /// relative to the working directory. openat itself is listed per role.
  static let directoryFiles: [SystemCallRule] = [
    SystemCallRule(__NR_newfstatat),
    SystemCallRule(__NR_fstat),
    SystemCallRule(__NR_fcntl),
    SystemCallRule(__NR_renameat, anyOf: [[relativeToDirectory]]),
    unlinkInDirectory,
    SystemCallRule(__NR_ftruncate),
    SystemCallRule(__NR_fallocate),
    SystemCallRule(__NR_lseek),
    SystemCallRule(__NR_syncfs),
    SystemCallRule(__NR_sync_file_range),  // a swap-out starts its pages' writeback before the batch's syncfs
    SystemCallRule(cachestat),  // a swap-in reads a file whose pages are not cached with O_DIRECT
    SystemCallRule(__NR_getdents64),
    // TrustedDirectory's path walk reads the links on the way (relative to the directory it holds).
    SystemCallRule(__NR_readlinkat, anyOf: [[relativeToDirectory]]),
  ]

  /// The API's sockets: accepting, reading and writing, its epoll set, timers and wake-ups.
  static let sockets: [SystemCallRule] = [
    SystemCallRule(__NR_epoll_wait),
    SystemCallRule(__NR_read),
    SystemCallRule(__NR_writev),
    SystemCallRule(__NR_readv),
    SystemCallRule(__NR_epoll_ctl),
    SystemCallRule(__NR_accept4),
    SystemCallRule(__NR_close),
    SystemCallRule(__NR_getsockopt),
    SystemCallRule(__NR_getsockname),
    SystemCallRule(__NR_getpeername),
    SystemCallRule(__NR_setsockopt),
    SystemCallRule(__NR_shutdown),
    SystemCallRule(__NR_timerfd_settime),
  ]

  /// The user and group databases (the peer check's group lookup): their files read only; the modules that
  /// would ask a daemon over a socket (nscd, systemd-userdb) are refused with EACCES and fall back to the files.
  static let userDatabase: [SystemCallRule] = [
    SystemCallRule(__NR_newfstatat),
    SystemCallRule(__NR_fstat),
    SystemCallRule(__NR_lseek),
    SystemCallRule(__NR_socket, failingWith: EACCES),
    SystemCallRule(__NR_connect, failingWith: EACCES),
  ]

  /// Creating threads, not processes (the main thread and the API's threads at stop: SwiftNIO's shutdown
  /// completes on libdispatch threads, which libdispatch creates on demand from the thread that queues the
  /// completion, and which get that thread's filter): clone only with CLONE_THREAD; clone3,
  /// whose flags a filter cannot read, fails with ENOSYS so that glibc falls back to clone. The new thread's
  /// set-up (robust futex list, rseq, its name and priority) and libdispatch's manager (epoll, eventfd, timerfd,
  /// reading /proc/TID/stat: openat read-only is in each of these roles); its syslog socket fails with EACCES.
  /// Foundation reads a new thread's name back (PR_GET_NAME) as it starts.
  static let threadCreation: [SystemCallRule] = [
    SystemCallRule(__NR_clone, argument: 0, .anySet(UInt32(CLONE_THREAD))),
    SystemCallRule(__NR_clone3, failingWith: ENOSYS),
    SystemCallRule(__NR_set_robust_list),
    SystemCallRule(__NR_rseq),
    SystemCallRule(__NR_prctl, argument: 0, .oneOf([UInt32(PR_SET_NAME), UInt32(PR_GET_NAME)])),
    SystemCallRule(__NR_setpriority),
    SystemCallRule(__NR_sched_getaffinity),
    SystemCallRule(__NR_epoll_create1),
    SystemCallRule(__NR_epoll_ctl),
    SystemCallRule(__NR_epoll_wait),
    SystemCallRule(__NR_eventfd2),
    SystemCallRule(__NR_timerfd_create),
    SystemCallRule(__NR_timerfd_settime),
    SystemCallRule(__NR_read),
    // libdispatch logs to syslog when it cannot raise a new thread's priority (EACCES without CAP_SYS_NICE).
    SystemCallRule(__NR_socket, failingWith: EACCES),
    SystemCallRule(__NR_connect, failingWith: EACCES),
  ]

  /// The vCPU ioctls a worker issues: running a slice, reading and writing registers when KVM does not sync them
  /// in kvm_run, and single-stepping for the progress probe.
  static let vcpuRequests: [UInt32] = [
    SECCOMP_KVM_RUN, SECCOMP_KVM_GET_REGS, SECCOMP_KVM_SET_REGS, SECCOMP_KVM_GET_SREGS, SECCOMP_KVM_SET_SREGS,
    SECCOMP_KVM_SET_GUEST_DEBUG,
  ]

  /// The vCPU and VM ioctls of saving and restoring a whole machine (swap-out, swap-in).
  static let swapRequests: [UInt32] = [
    SECCOMP_KVM_GET_FPU, SECCOMP_KVM_SET_FPU, SECCOMP_KVM_GET_MSRS, SECCOMP_KVM_SET_MSRS, SECCOMP_KVM_GET_VCPU_EVENTS,
    SECCOMP_KVM_SET_VCPU_EVENTS, SECCOMP_KVM_GET_DEBUGREGS, SECCOMP_KVM_SET_DEBUGREGS, SECCOMP_KVM_GET_XCRS,
    SECCOMP_KVM_SET_XCRS, SECCOMP_KVM_GET_CLOCK, SECCOMP_KVM_SET_CLOCK, SECCOMP_KVM_GET_DIRTY_LOG,
    SECCOMP_KVM_GET_TSC_KHZ,
  ]

  /// The ioctls of creating a VM and its vCPU (boot and swap-in).
  static let setupRequests: [UInt32] = [
    SECCOMP_KVM_CREATE_VM, SECCOMP_KVM_CREATE_VCPU, SECCOMP_KVM_SET_USER_MEMORY_REGION, SECCOMP_KVM_SET_TSS_ADDR,
    SECCOMP_KVM_ENABLE_CAP, SECCOMP_KVM_SET_CPUID2, SECCOMP_KVM_CHECK_EXTENSION, SECCOMP_KVM_GET_VCPU_MMAP_SIZE,
    SECCOMP_KVM_GET_SUPPORTED_CPUID, SECCOMP_KVM_GET_MSR_INDEX_LIST, SECCOMP_KVM_GET_MSR_FEATURE_INDEX_LIST,
    SECCOMP_KVM_GET_API_VERSION,
  ]
}
