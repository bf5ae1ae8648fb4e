#!/usr/bin/env bash
# restart-scale.sh [N]: restart of `denalid serve` with N idle VMs (idler, 2 MiB, 10 minute period, in a
# 256 MiB budget): how long SIGTERM and the restart take, how many VMs the restart swaps in, and the daemon's
# RSS, beside the same daemon starting on an empty state directory in the same run (the baseline).
# Needs the release build (swift build -c release) and the guests (make -C Guests).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}
denalid=.build/release/denalid
dir=$(mktemp -d /tmp/denali-restart-scale.XXXXXX)
chmod 700 "$dir"
socket=$dir/denalid.sock
trap 'kill -KILL ${pid:-} 2>/dev/null || true; rm -rf "$dir"' EXIT

now() { date +%s.%N; }
serve() {
  "$denalid" serve --config /dev/null --socket "$socket" --socket-group "" --state-dir "$dir/state" \
    --image-dir "$PWD/Guests/build" --memory-budget 256MiB --max-vms 100000 --log-level notice 2>>"$dir/log" &
  pid=$!
  until "$denalid" stats --socket "$socket" >/dev/null 2>&1; do sleep 0.01; done
}
field() { "$denalid" stats --socket "$socket" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }

t0=$(now); serve; t1=$(now)
fresh=$(echo "$t1 - $t0" | bc); fresh_rss=$(rss)
"$denalid" spawn --socket "$socket" idler.elf --count "$N" --memory 2MiB -- 600000 >/dev/null
until [[ $(field 'd["vms"]["idle"] + d["vms"]["swapped_out"]') == "$N" ]]; do sleep 0.2; done
t0=$(now); kill -TERM "$pid"; wait "$pid"; t1=$(now)
stop=$(echo "$t1 - $t0" | bc)
t0=$(now); serve; t1=$(now)
restart=$(echo "$t1 - $t0" | bc)
sleep 5
echo "fresh start (empty state) to API ready: ${fresh} s, RSS ${fresh_rss} KiB"
echo "SIGTERM with $N idle VMs: ${stop} s"
echo "restart with $N VMs to API ready: ${restart} s ($(echo "scale=2; $restart / $fresh" | bc)x the fresh start)"
echo "5 s after the restart: $(field '"swap-ins %d, swapped out %d of %d" % (d["swap_ins_total"], d["vms"]["swapped_out"], d["vms"]["total"])'), RSS $(rss) KiB ($(( ($(rss) - fresh_rss) * 1024 / N )) bytes per VM over the fresh start)"
kill -TERM "$pid"; wait "$pid"
