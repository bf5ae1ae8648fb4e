#!/usr/bin/env bash
# scripts/demo.sh: the demo: first the daemon (scripts/demo-daemon.sh: thousands of VMs through the control
# API, swapping, a restart without loss), then network services through the daemon (scripts/demo-network.sh:
# VMs at their own addresses behind a TAP uplink, woken by packets, kept apart), then `denalid run`: single
# guests, the Denali machine (clock, idle, disk, a hostile guest), many VMs multiplexed on a few workers,
# swapping, the network. Shows output and exit statuses.
# Run by `make demo` after the build; the non-zero statuses below are expected, so no `set -e`.
set -u
cd "$(dirname "$0")/.."

DENALID=${DENALID:-.build/release/denalid}
GUESTS=${DENALI_GUESTS_DIR:-Guests/build}
for f in "$DENALID" "$GUESTS/hello.elf"; do
  [[ -e $f ]] || { echo "demo: $f is missing; run 'make demo' (it builds everything first)" >&2; exit 1; }
done

# Part 1: the daemon and its control API (a few thousand VMs, swapping, a restart without loss).
bash scripts/demo-daemon.sh || exit 1
# Part 2: network services through the daemon (in a private network namespace; needs root).
bash scripts/demo-network.sh || exit 1

# Part 3: `denalid run`, which needs no daemon: single guests and the machine's features.
printf '\n\n######## denalid run: guests without a daemon\n'

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
step "Virtual registers: the guest reads its clock, TSC rate, VM id and memory without a trap" \
  0 "$DENALID" run "$GUESTS/clock.elf"
step "Idle-with-timeout: 200 sleeps of 1 ms, lateness measured on the guest's own clock" \
  0 "$DENALID" run "$GUESTS/sleeper.elf" -- 200 1
step "The virtual disk: write a pattern over every block of a 1 MiB scratch disk, read it back" \
  0 "$DENALID" run "$GUESTS/disk-check.elf" --disk-size 1MiB -- write 42
step "A hostile guest points a hypercall outside its memory: stopped, nothing else harmed" \
  165 "$DENALID" run "$GUESTS/evil.elf" -- hc-struct-outside
step "Many VMs, few threads: 8 CPU-bound guests share 2 workers fairly for 3 s (see Jain's index)" \
  124 "$DENALID" run "$GUESTS/spin.elf" --count 8 --workers 2 --timeout 3s --quiet
step "1,000 VMs idling at once (each naps 1 s) on 2 workers for 5 s: one timer heap, little CPU" \
  124 "$DENALID" run "$GUESTS/idler.elf" --count 1000 --memory 2MiB --timeout 5s --quiet -- 1000
step "A sleeper (100 naps of 10 ms) beside 8 spinners on 2 workers still wakes within a quantum (idle reward)" \
  124 "$DENALID" run "$GUESTS/sleeper.elf" "$GUESTS/spin.elf:8" --workers 2 --timeout 4s -- 100 10
step "Memory is a budget: 400 memcheck VMs in room for 40 are swapped out whole and back; every page verifies" \
  0 "$DENALID" run "$GUESTS/memcheck.elf:400" --memory 2MiB --memory-budget 80MiB --quiet -- 3 50 128
step "The virtual network: 200 VMs, 100 UDP clients each echoing off its own server VM through the switch" \
  0 "$DENALID" run "$GUESTS/udp-echo.elf:100" "$GUESTS/udp-client.elf:100" --network 10.0.0.0/16 --memory 2MiB --quiet \
  -- peer=-100 count=2 linger-ms=2000 quiet
step "3,000 idlers in room for 300 for 5 s: the gatekeeper boots them as room allows, swapping out the longest idle" \
  124 "$DENALID" run "$GUESTS/idler.elf:3000" --memory 2MiB --memory-budget 600MiB --timeout 5s --quiet -- 1000

if ((unexpected > 0)); then
  printf '\ndemo: %d step(s) ended with an unexpected status\n' "$unexpected" >&2
  exit 1
fi
printf '\ndemo: every step ended as expected\n'
