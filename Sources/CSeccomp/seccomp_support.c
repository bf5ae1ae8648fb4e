/* seccomp_support.c: installs seccomp filters and reports a forbidden system call (see seccomp_support.h). */
#define _GNU_SOURCE
#include "seccomp_support.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

int seccomp_set_no_new_privs(void) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
  return 0;
}

long seccomp_test_open(const char *path) {
  long result = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  return result < 0 ? -errno : result;
}

/** Fills a thread's own malloc arena with small blocks and frees them, so that the arena's heap shrinks: the
 *  first shrink of any thread's heap reads /proc/sys/vm/overcommit_memory (glibc's check_may_shrink_heap), once
 *  per process, and it must happen here, before any filter forbids openat, not later on a worker. */
static void *shrink_a_thread_heap(void *unused) {
  (void)unused;
  enum { blocks = 4096, size = 1024 };
  static void *allocated[blocks];
  for (int index = 0; index < blocks; index++) allocated[index] = malloc(size);
  for (int index = blocks - 1; index >= 0; index--) free(allocated[index]);
  return 0;
}

int seccomp_fix_malloc_arena_limit(void) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (cores < 1) cores = 1;
  if (cores > 128) cores = 128;
  int result = mallopt(M_ARENA_MAX, (int)(8 * cores));
  pthread_t thread;
  if (pthread_create(&thread, 0, shrink_a_thread_heap, 0) == 0) pthread_join(thread, 0);
  return result;
}

long seccomp_test_call(long number, long first, long second, long third, long fourth) {
  long result = syscall(number, first, second, third, fourth);
  return result < 0 ? -errno : result;
}

void seccomp_trace_marker(const char *text) { (void)syscall(SYS_openat, -1, text, O_RDONLY); }

int seccomp_install_filter(const struct sock_filter *program, unsigned short count) {
  struct sock_fprog description = {.len = count, .filter = (struct sock_filter *)program};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG, &description) != 0) return -errno;
  return 0;
}

/** What each report starts with (for example "<2>denalid: " under journald). */
static char report_prefix[64] = "denalid: ";
/** The calling thread's role, for the report. */
static __thread const char *thread_role = "unnamed (its creator's filter)";
/** The calling thread's id, read when its role is set (the report makes no other system call than its write). */
static __thread long thread_id = 0;

void seccomp_set_thread_role(const char *role) {
  thread_role = role;
  thread_id = syscall(SYS_gettid);
}

int seccomp_set_thread_name(const char *name) {
  char truncated[16];
  strncpy(truncated, name, sizeof truncated - 1);
  truncated[sizeof truncated - 1] = 0;
  if (prctl(PR_SET_NAME, truncated, 0, 0, 0) != 0) return -errno;
  return 0;
}

/** A line being built in a fixed buffer: async-signal-safe, no allocation, truncates at the end. */
struct line {
  char text[512];
  size_t length;
};

static void append(struct line *line, const char *text) {
  while (*text && line->length < sizeof line->text - 1) line->text[line->length++] = *text++;
}

static void append_decimal(struct line *line, unsigned long value) {
  char digits[24];
  int count = 0;
  do {
    digits[count++] = (char)('0' + value % 10);
    value /= 10;
  } while (value && count < (int)sizeof digits);
  while (count > 0 && line->length < sizeof line->text - 1) line->text[line->length++] = digits[--count];
}

static void append_hex(struct line *line, unsigned long value) {
  static const char hex[] = "0123456789abcdef";
  char digits[16];
  int count = 0;
  do {
    digits[count++] = hex[value & 15];
    value >>= 4;
  } while (value && count < (int)sizeof digits);
  append(line, "0x");
  while (count > 0 && line->length < sizeof line->text - 1) line->text[line->length++] = digits[--count];
}

/** Reports the forbidden call on standard error and ends the process. Only write(2, ...) and exit_group are made:
 *  every filter allows both. */
static void on_forbidden_call(int signal, siginfo_t *info, void *context) {
  (void)signal;
  struct line line = {.length = 0};
  append(&line, report_prefix);
  append(&line, "seccomp: the ");
  append(&line, thread_role);
  append(&line, " thread (tid ");
  append_decimal(&line, (unsigned long)thread_id);
  append(&line, ") made system call ");
  const char *name = seccomp_system_call_name(info->si_syscall);
  append(&line, name ? name : "unknown");
  append(&line, " (");
  append_decimal(&line, (unsigned long)info->si_syscall);
  append(&line, ")");
  const ucontext_t *machine = context;
  if (machine) {
    // The first three arguments (rdi, rsi, rdx): for an ioctl, its descriptor and request.
    append(&line, " with arguments ");
    append_hex(&line, (unsigned long)machine->uc_mcontext.gregs[REG_RDI]);
    append(&line, ", ");
    append_hex(&line, (unsigned long)machine->uc_mcontext.gregs[REG_RSI]);
    append(&line, ", ");
    append_hex(&line, (unsigned long)machine->uc_mcontext.gregs[REG_RDX]);
    // A path argument (open's first, openat's second) is shown too: which file a library reached for is what
    // tells the cause (a lazy read of /sys or /etc). Bounded; stops at the first byte that is not printable.
    const char *path = 0;
    if (info->si_syscall == SYS_openat) path = (const char *)machine->uc_mcontext.gregs[REG_RSI];
    if (info->si_syscall == SYS_open) path = (const char *)machine->uc_mcontext.gregs[REG_RDI];
    if ((unsigned long)path >= 4096) {
      append(&line, " (path \"");
      for (int index = 0; index < 160 && path[index] >= 0x20 && path[index] < 0x7f; index++) {
        if (line.length < sizeof line.text - 1) line.text[line.length++] = path[index];
      }
      append(&line, "\")");
    }
  }
  append(&line, ", which its filter forbids: stopping (exit status 159)\n");
  size_t written = 0;
  while (written < line.length) {
    long result = syscall(SYS_write, 2, line.text + written, line.length - written);
    if (result <= 0) break;
    written += (size_t)result;
  }
  syscall(SYS_exit_group, SECCOMP_VIOLATION_STATUS);
}

int seccomp_install_reporter(const char *prefix) {
  size_t length = strlen(prefix);
  if (length >= sizeof report_prefix) length = sizeof report_prefix - 1;
  memcpy(report_prefix, prefix, length);
  report_prefix[length] = 0;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_forbidden_call;
  action.sa_flags = SA_SIGINFO;
  sigfillset(&action.sa_mask);
  if (sigaction(SIGSYS, &action, 0) != 0) return -errno;
  return 0;
}
