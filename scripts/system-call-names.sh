#!/bin/bash
# system-call-names.sh: writes Sources/CSeccomp/system_call_names.c, the table of x86-64 system call names that the
# seccomp violation report prints, from the kernel's <asm/unistd_64.h> (Debian linux-libc-dev).
#   bash scripts/system-call-names.sh > Sources/CSeccomp/system_call_names.c
set -euo pipefail
header=${1:-/usr/include/x86_64-linux-gnu/asm/unistd_64.h}
cat <<'HEAD'
/* system_call_names.c: the name of every x86-64 system call, for the seccomp violation report. Generated from
 * <asm/unistd_64.h> by scripts/system-call-names.sh (run it again for a newer kernel header). */
#include "seccomp_support.h"
#include <asm/unistd_64.h>

#define NAME(call) [__NR_##call] = #call,

/** Names indexed by system call number; gaps are NULL. */
static const char *const names[] = {
HEAD
grep -E '^#define __NR_[a-z0-9_]+ [0-9]+' "$header" | awk '{sub("__NR_", "", $2); printf "  NAME(%s)\n", $2}'
cat <<'TAIL'
};

const char *seccomp_system_call_name(long number) {
  if (number < 0 || (unsigned long)number >= sizeof names / sizeof names[0]) return 0;
  return names[number];
}
TAIL
