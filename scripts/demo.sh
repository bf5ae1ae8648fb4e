#!/usr/bin/env bash
# scripts/demo.sh: the foundation demo: `denalid run` on a few guests, showing their output and exit statuses.
# Run by `make demo` after the build; the non-zero statuses below are expected, so no `set -e`.
set -u
cd "$(dirname "$0")/.."

DENALID=${DENALID:-.build/release/denalid}
GUESTS=${DENALI_GUESTS_DIR:-Guests/build}
for f in "$DENALID" "$GUESTS/hello.elf"; do
  [[ -e $f ]] || { echo "demo: $f is missing; run 'make demo' (it builds everything first)" >&2; exit 1; }
done

# step TITLE EXPECTED COMMAND...: print a header and the command, run it, show its exit status.
unexpected=0
step() {
  local title=$1 expected=$2; shift 2
  printf '\n== %s\n$ %s\n' "$title" "$*"
  "$@"
  local status=$?
  if ((status == expected)); then
    printf '[exit status %d]\n' "$status"
  else
    printf '[exit status %d, expected %d]\n' "$status" "$expected"
    unexpected=$((unexpected + 1))
  fi
}

step "A guest is run like a program: its console is our stdout" \
  0 "$DENALID" run "$GUESTS/hello.elf" -- from the demo
step "Its exit status is the daemon's" \
  7 "$DENALID" run "$GUESTS/exit-status.elf" -- 7
step "A CPU fault kills the guest only: 128 + vector (#UD is vector 6)" \
  134 "$DENALID" run "$GUESTS/fault.elf" -- ud
step "A guest that never ends is stopped by --timeout: 124" \
  124 "$DENALID" run "$GUESTS/spin.elf" --timeout 1s
step "Not a guest image: rejected with 2" \
  2 "$DENALID" run /etc/hostname

if ((unexpected > 0)); then
  printf '\ndemo: %d step(s) ended with an unexpected status\n' "$unexpected" >&2
  exit 1
fi
printf '\ndemo: every step ended as expected\n'
