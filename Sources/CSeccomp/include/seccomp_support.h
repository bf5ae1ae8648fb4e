/* seccomp_support.h: installing a seccomp BPF filter on the calling thread, and the SIGSYS handler that reports a
 * forbidden system call and stops the process. The filters themselves are built in Swift (Sources/Seccomp). */
#ifndef SECCOMP_SUPPORT_H
#define SECCOMP_SUPPORT_H

#include <linux/audit.h>
#include <linux/filter.h>
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

/** Sets the calling thread's name (15 bytes at most are kept), as `ps -L` and the audit log show it. 0 or -errno. */
int seccomp_set_thread_name(const char *name);

#endif /* SECCOMP_SUPPORT_H */
