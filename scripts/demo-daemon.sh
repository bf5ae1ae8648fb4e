#!/usr/bin/env bash
# scripts/demo-daemon.sh: the daemon part of the demo (run first by scripts/demo.sh): `denalid serve` with a
# memory budget for 200 resident VMs takes a few thousand VMs of several guests through its control API; the
# client commands show them idle, swap and exit; a hostile guest dies alone; SIGTERM swaps every VM out and a
# restart resumes them where they were; a final SIGTERM stops it cleanly.
set -u
cd "$(dirname "$0")/.."

DENALID=${DENALID:-.build/release/denalid}
GUESTS=$(cd "${DENALI_GUESTS_DIR:-Guests/build}" && pwd)
for f in "$DENALID" "$GUESTS/idler.elf" "$GUESTS/counter.elf" "$GUESTS/memcheck.elf"; do
  [[ -e $f ]] || { echo "demo: $f is missing; run 'make demo' (it builds everything first)" >&2; exit 1; }
done

DEMO_DIR=$(mktemp -d /var/tmp/denali-demo-XXXXXX)
SOCKET=$DEMO_DIR/denalid.sock
LOG=$DEMO_DIR/daemon.log
source scripts/demo-common.sh
cleanup() {
  [[ -n $daemon_pid ]] && kill -KILL "$daemon_pid" 2>/dev/null
  rm -rf "$DEMO_DIR"
}
trap cleanup EXIT

start_daemon() {
  "$DENALID" serve --config /dev/null --socket "$SOCKET" --socket-group "" --state-dir "$DEMO_DIR/state" \
    --image-dir "$GUESTS" --memory-budget 400MiB --log-level notice 2>>"$LOG" &
  await_daemon $!
}

say "denalid serve: the control API on $SOCKET, 400 MiB of guest memory resident at most (200 VMs of 2 MiB)"
printf '$ denalid serve --socket %s --state-dir %s --image-dir %s --memory-budget 400MiB &\n' "$SOCKET" "$DEMO_DIR/state" "$GUESTS"
start_daemon

say "Spawn 3,001 VMs of five guests through the API (15 times the budget)"
show client spawn idler.elf --count 2000 --memory 2MiB --name idler -- 30000
show client spawn counter.elf --count 500 --memory 2MiB --name counter -- interval-ms=250 limit=24
show client spawn memcheck.elf --count 300 --memory 2MiB --name memcheck -- 3 100 128
show client spawn hello.elf --count 200 --memory 2MiB --name hello -- from the daemon
show client spawn evil.elf --name evil --memory 2MiB -- hc-struct-outside

for round in 1 2 3; do
  sleep 3
  say "After $((round * 3)) s: $(state_counts)"
  show client stats
done

say "A few of them"
client list | head -1
client list | grep -E ' (idler-1|counter-1|memcheck-1|hello-1|evil) '
show client logs hello-7
show client logs counter-3 --tail 3
show client inspect evil

say "Kill one VM by name; the others go on"
show client kill idler-5
client list | grep -E ' idler-(4|5|6) '

say "SIGTERM: the daemon stops taking requests, swaps every VM out, records the table and exits"
before=$(client logs counter-9 --tail 1)
stop_daemon
grep -E 'stopping|saved' "$LOG" | tail -2 | sed 's/^/  daemon: /'

say "Restart on the same state: every live VM resumes where it was (restored_from swap, restarts 1)"
start_daemon
grep -E 'restarting|resumed' "$LOG" | tail -2 | sed 's/^/  daemon: /'
echo "counter-9 said '$before' before the stop (its console is kept across the restart); once readmitted:"
for _ in $(seq 1 300); do
  [[ $(client logs counter-9 --tail 1) != "$before" ]] && break
  sleep 0.1
done
show client logs counter-9 --tail 3
show client inspect idler-2
say "State after the restart: $(state_counts)"
show client stats

say "Stop cleanly"
stop_daemon
finish daemon
