#!/usr/bin/env bash
# httpd-cost.sh [N] [SIZE]: guest instructions per request of the httpd guest on one kept-alive connection:
# curl fetches a SIZE-byte file (default 1024) first 10 times, then 10 + N times (default 100), each run in a
# fresh httpd under `perf stat -e kvm:kvm_emulate_insn` (one event per emulated guest instruction, exact on
# machines whose guests are emulated); the difference over N is the cost of one request: TCP in and out, the
# HTTP parse, the lookup, the response head and the body. Prints the curl time per request beside it. Runs in a
# network namespace of its own (needs root, ip, curl, perf). Needs a build (debug or release) and the guests.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
SIZE=${2:-1024}
denalid=.build/release/denalid
[[ -x $denalid ]] || denalid=.build/debug/denalid
dir=$(mktemp -d /tmp/denali-httpd-cost.XXXXXX)
ns=denali-httpd-cost-$$
trap 'ip netns delete "$ns" 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir "$dir/site"
head -c "$SIZE" /dev/urandom >"$dir/site/file.html"
"$denalid" disk pack "$dir/site" -o "$dir/site.img" >/dev/null
ip netns add "$ns"
ip -n "$ns" link set lo up

# run REQUESTS: prints "INSTRUCTIONS SECONDS" for REQUESTS requests on one connection to a fresh httpd.
run() {
  local requests=$1
  ip netns exec "$ns" perf stat -x, -e kvm:kvm_emulate_insn -o "$dir/perf" "$denalid" run Guests/build/httpd.elf \
    --tap dtap0 --tap-address 10.250.7.1/24 --disk "$dir/site.img" --disk-readonly --timeout 300s -- \
    "count=$requests" quiet >"$dir/httpd.out" 2>&1 &
  local pid=$!
  until ip -n "$ns" addr show dtap0 2>/dev/null | grep -q inet; do sleep 0.05; done
  local args=()
  for ((i = 0; i < requests; i++)); do args+=(-o /dev/null http://10.250.7.2/file.html); done
  local t0 t1
  t0=$(date +%s.%N)
  ip netns exec "$ns" curl -sS -m 300 "${args[@]}"
  t1=$(date +%s.%N)
  wait "$pid"
  grep -q "$requests ok" "$dir/httpd.out" || { cat "$dir/httpd.out" >&2; exit 1; }
  echo "$(grep kvm_emulate_insn "$dir/perf" | cut -d, -f1) $(echo "$t1 - $t0" | bc)"
}

read -r base_insns base_seconds < <(run 10)
read -r insns seconds < <(run $((10 + N)))
per_request=$(((insns - base_insns) / N))
per_second=$(echo "scale=2; ($seconds - $base_seconds) * 1000 / $N" | bc)
echo "httpd, $SIZE-byte file, one kept-alive connection: $per_request guest instructions per request" \
  "($base_insns for 10 requests, $insns for $((10 + N))); curl $per_second ms per request"
