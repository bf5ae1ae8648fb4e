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

# step TITLE COMMAND...: print a header and the command, run it, show its exit status.
step() {
  local title=$1; shift
  printf '\n== %s\n$ %s\n' "$title" "$*"
  "$@"
  printf '[exit status %d]\n' "$?"
}

step "A guest is run like a program: its console is our stdout" \
  "$DENALID" run "$GUESTS/hello.elf" -- from the demo
step "Its exit status is the daemon's" \
  "$DENALID" run "$GUESTS/exit-status.elf" -- 7
step "A CPU fault kills the guest only: 128 + vector (#UD is vector 6)" \
  "$DENALID" run "$GUESTS/fault.elf" -- ud
if [[ -e $GUESTS/spin.elf ]]; then
  step "A guest that never ends is stopped by --timeout: 124" \
    "$DENALID" run "$GUESTS/spin.elf" --timeout 2s
else
  # TODO: no guest loops forever yet (`fault halt` exits with 161, not a timeout); add one (spin) and show --timeout.
  printf '\n== --timeout: skipped (no looping guest yet)\n'
fi
step "Not a guest image: rejected with 2" \
  "$DENALID" run /etc/hostname
echo
