/* seccomp_support.h: installing a seccomp BPF filter on the calling thread, and the SIGSYS handler that reports a
 * forbidden system call and stops the process. The filters themselves are built in Swift (Sources/Seccomp). */
#ifndef SECCOMP_SUPPORT_H
#define SECCOMP_SUPPORT_H

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <asm/unistd_64.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <stdint.h>

/** BPF opcodes the filters use (the function-like BPF_STMT/BPF_JUMP macros do not reach Swift). */
static const uint16_t SECCOMP_BPF_LOAD_WORD = BPF_LD | BPF_W | BPF_ABS;
static const uint16_t SECCOMP_BPF_JUMP_EQUAL = BPF_JMP | BPF_JEQ | BPF_K;
static const uint16_t SECCOMP_BPF_JUMP_GREATER_OR_EQUAL = BPF_JMP | BPF_JGE | BPF_K;
static const uint16_t SECCOMP_BPF_JUMP_ANY_BIT = BPF_JMP | BPF_JSET | BPF_K;
static const uint16_t SECCOMP_BPF_RETURN = BPF_RET | BPF_K;

/** Where the fields of `struct seccomp_data` are (little-endian: an argument's low word comes first). */
static const uint32_t SECCOMP_DATA_NUMBER = 0;
static const uint32_t SECCOMP_DATA_ARCHITECTURE = 4;
static const uint32_t SECCOMP_DATA_ARGUMENTS = 16;

/** The only architecture the filters allow. */
static const uint32_t SECCOMP_ARCHITECTURE_X86_64 = AUDIT_ARCH_X86_64;
/** System call numbers from here up are the x32 ABI's, which the filters refuse. */
static const uint32_t SECCOMP_X32_SYSCALL_BIT = 0x40000000;

/** Filter results. */
static const uint32_t SECCOMP_RESULT_ALLOW = SECCOMP_RET_ALLOW;
static const uint32_t SECCOMP_RESULT_TRAP = SECCOMP_RET_TRAP;
static const uint32_t SECCOMP_RESULT_LOG = SECCOMP_RET_LOG;
static const uint32_t SECCOMP_RESULT_KILL_PROCESS = SECCOMP_RET_KILL_PROCESS;
static const uint32_t SECCOMP_RESULT_ERRNO = SECCOMP_RET_ERRNO;

/** The exit status of a process stopped for a forbidden system call: 128 + SIGSYS, as if killed by it. */
static const int SECCOMP_VIOLATION_STATUS = 159;

/** The KVM ioctl requests the daemon issues, for the filters' ioctl argument checks (the _IO macros do not reach
 *  Swift). On /dev/kvm: */
static const uint32_t SECCOMP_KVM_GET_API_VERSION = KVM_GET_API_VERSION;
static const uint32_t SECCOMP_KVM_CREATE_VM = KVM_CREATE_VM;
static const uint32_t SECCOMP_KVM_CHECK_EXTENSION = KVM_CHECK_EXTENSION;
static const uint32_t SECCOMP_KVM_GET_VCPU_MMAP_SIZE = KVM_GET_VCPU_MMAP_SIZE;
static const uint32_t SECCOMP_KVM_GET_SUPPORTED_CPUID = KVM_GET_SUPPORTED_CPUID;
static const uint32_t SECCOMP_KVM_GET_MSR_INDEX_LIST = KVM_GET_MSR_INDEX_LIST;
static const uint32_t SECCOMP_KVM_GET_MSR_FEATURE_INDEX_LIST = KVM_GET_MSR_FEATURE_INDEX_LIST;
/** On a VM: */
static const uint32_t SECCOMP_KVM_CREATE_VCPU = KVM_CREATE_VCPU;
static const uint32_t SECCOMP_KVM_SET_USER_MEMORY_REGION = KVM_SET_USER_MEMORY_REGION;
static const uint32_t SECCOMP_KVM_SET_TSS_ADDR = KVM_SET_TSS_ADDR;
static const uint32_t SECCOMP_KVM_ENABLE_CAP = KVM_ENABLE_CAP;
static const uint32_t SECCOMP_KVM_GET_DIRTY_LOG = KVM_GET_DIRTY_LOG;
static const uint32_t SECCOMP_KVM_GET_CLOCK = KVM_GET_CLOCK;
static const uint32_t SECCOMP_KVM_SET_CLOCK = KVM_SET_CLOCK;
/** On a vCPU: */
static const uint32_t SECCOMP_KVM_RUN = KVM_RUN;
static const uint32_t SECCOMP_KVM_GET_REGS = KVM_GET_REGS;
static const uint32_t SECCOMP_KVM_SET_REGS = KVM_SET_REGS;
static const uint32_t SECCOMP_KVM_GET_SREGS = KVM_GET_SREGS;
static const uint32_t SECCOMP_KVM_SET_SREGS = KVM_SET_SREGS;
static const uint32_t SECCOMP_KVM_GET_FPU = KVM_GET_FPU;
static const uint32_t SECCOMP_KVM_SET_FPU = KVM_SET_FPU;
static const uint32_t SECCOMP_KVM_GET_MSRS = KVM_GET_MSRS;
static const uint32_t SECCOMP_KVM_SET_MSRS = KVM_SET_MSRS;
static const uint32_t SECCOMP_KVM_SET_CPUID2 = KVM_SET_CPUID2;
static const uint32_t SECCOMP_KVM_GET_VCPU_EVENTS = KVM_GET_VCPU_EVENTS;
static const uint32_t SECCOMP_KVM_SET_VCPU_EVENTS = KVM_SET_VCPU_EVENTS;
static const uint32_t SECCOMP_KVM_GET_DEBUGREGS = KVM_GET_DEBUGREGS;
static const uint32_t SECCOMP_KVM_SET_DEBUGREGS = KVM_SET_DEBUGREGS;
static const uint32_t SECCOMP_KVM_GET_XCRS = KVM_GET_XCRS;
static const uint32_t SECCOMP_KVM_SET_XCRS = KVM_SET_XCRS;
static const uint32_t SECCOMP_KVM_SET_GUEST_DEBUG = KVM_SET_GUEST_DEBUG;
static const uint32_t SECCOMP_KVM_GET_TSC_KHZ = KVM_GET_TSC_KHZ;
/** FIONBIO and FIONREAD, which SwiftNIO issues on its sockets. */
static const uint32_t SECCOMP_FIONBIO = 0x5421;
static const uint32_t SECCOMP_FIONREAD = 0x541B;

/** Installs the `count` instructions at `program` as a seccomp filter of the calling thread (threads it creates
 *  afterwards inherit it). Needs no_new_privs (or CAP_SYS_ADMIN). Returns 0, or -errno. */
int seccomp_install_filter(const struct sock_filter *program, unsigned short count);

/** Installs the process's SIGSYS handler: on a system call a filter traps, it writes one line to standard error,
 *  `prefix` then "seccomp: the ROLE thread (tid N) made system call NAME (NR) ..., which its filter forbids:
 *  stopping", and ends the process with status 159 (exit_group, which every filter allows, as it allows writes to
 *  standard error). `prefix` is copied (at most 63 bytes). Returns 0, or -errno. */
int seccomp_install_reporter(const char *prefix);

/** Names the calling thread's role in the report (a string that lives as long as the process). */
void seccomp_set_thread_role(const char *role);

/** The name of x86-64 system call `number`, or NULL for a number the table does not know. */
const char *seccomp_system_call_name(long number);

/** Sets no_new_privs on the process (threads created afterwards inherit it; the caller's own flag is set). 0 or
 *  -errno. */
int seccomp_set_no_new_privs(void);

/** A test hook: openat(AT_FDCWD, path, O_RDONLY) as a raw system call, for proving a filter stops it. Returns the
 *  descriptor or -errno. */
long seccomp_test_open(const char *path);

/** Sets glibc malloc's arena limit to its own default (8 per online core), so that it never counts the cores
 *  itself: it does so lazily, reading /sys/devices/system/cpu/online in whichever thread first needs an arena of
 *  its own, which a filtered thread may not. Then shrinks a helper thread's heap once, for glibc's other lazy
 *  read (/proc/sys/vm/overcommit_memory, at the first shrink of any thread's heap: a worker freeing a burst of
 *  frames under load was stopped by its filter for it). Returns mallopt's result (1 on success). */
int seccomp_fix_malloc_arena_limit(void);

/** A raw system call with up to four arguments (syscall(2) is variadic, which Swift cannot call): the result,
 *  or -errno. For the filters' tests. */
long seccomp_test_call(long number, long first, long second, long third, long fourth);

/** A marker in `strace -f` output (DENALI_SECCOMP=trace): a failing openat(-1, text) naming the thread's role. */
void seccomp_trace_marker(const char *text);

/** Sets the calling thread's name (15 bytes at most are kept), as `ps -L` and the audit log show it. 0 or -errno. */
int seccomp_set_thread_name(const char *name);

#endif /* SECCOMP_SUPPORT_H */
