#!/usr/bin/env bash
# scripts/demo-network.sh: the network part of the demo (run by scripts/demo.sh after the daemon part):
# `denalid serve` with a virtual network and a TAP uplink, inside a private network namespace (its traffic never
# leaves it): 100 UDP echo services and a web server spawned through the API, each at its own address, in room
# for 20; a host client reaches each one, swapped out or not (the packet wakes it); vm-to-vm = deny keeps VMs
# apart; per-VM counters in inspect and the metrics; a restart keeps every address. Needs root (TAP, netns).
set -u
cd "$(dirname "$0")/.."

DENALID=${DENALID:-.build/release/denalid}
DENALID=$(cd "$(dirname "$DENALID")" && pwd)/$(basename "$DENALID")
GUESTS=$(cd "${DENALI_GUESTS_DIR:-Guests/build}" && pwd)
for f in "$DENALID" "$GUESTS/udp-echo.elf" "$GUESTS/udp-client.elf" "$GUESTS/httpd.elf"; do
  [[ -e $f ]] || { echo "demo: $f is missing; run 'make demo' (it builds everything first)" >&2; exit 1; }
done
printf '\n\n######## denalid serve: network services\n'
if [[ $(id -u) != 0 ]] || ! command -v ip >/dev/null || ! command -v socat >/dev/null || ! command -v curl >/dev/null; then
  echo "demo: the network part needs root, iproute2, socat and curl (a TAP device in a private namespace); skipped"
  exit 0
fi

NS=denali-demo-$$
DEMO_DIR=$(mktemp -d /var/tmp/denali-demo-net-XXXXXX)
SOCKET=$DEMO_DIR/denalid.sock
LOG=$DEMO_DIR/daemon.log
source scripts/demo-common.sh
peer_pid=
cleanup() {
  [[ -n $daemon_pid ]] && kill -KILL "$daemon_pid" 2>/dev/null
  [[ -n $peer_pid ]] && kill "$peer_pid" 2>/dev/null
  ip netns delete "$NS" 2>/dev/null
  rm -rf "$DEMO_DIR"
}
trap cleanup EXIT
ip netns add "$NS" && ip -n "$NS" link set lo up || { echo "demo: cannot create network namespace $NS" >&2; exit 1; }

# in_ns COMMAND...: run a host-side command inside the demo's namespace (where the daemon's uplink is).
in_ns() { ip netns exec "$NS" "$@"; }
state_of() { client inspect "$1" --json | grep -o '"state":"[a-z_]*"' | cut -d'"' -f4; }
addresses() { client list --json | grep -o '"id":[0-9]*\|"address":"[0-9.]*"' | paste -d' ' - - | sort; }

# start_daemon: the daemon inside the namespace (ip netns exec execs it: $! is the daemon's own pid).
start_daemon() {
  ip netns exec "$NS" "$DENALID" serve --config /dev/null --socket "$SOCKET" --socket-group "" \
    --state-dir "$DEMO_DIR/state" --image-dir "$GUESTS" --memory-budget 40MiB --log-level notice \
    --network 10.0.0.0/16 --uplink "tap dtap0" --vm-to-vm deny 2>>"$LOG" &
  await_daemon $!
}

# echo_off ADDRESS NAME: one UDP datagram from the host side to a VM's echo service, with its state before and
# after (socat waits -t seconds for more after the echo, so no time is shown: bench daemon-net measures it).
echo_off() {
  local before reply
  before=$(state_of "$2")
  reply=$(printf 'hello %s' "$1" | in_ns socat -T 5 -t 2 - "UDP:$1:7")
  printf '  %-10s %-12s was %-12s -> echo "%s", now %s\n' "$2" "$1" "$before" "$reply" "$(state_of "$2")"
  [[ $reply == "hello $1" ]] || failures=$((failures + 1))
}

say "denalid serve in namespace $NS: network 10.0.0.0/16, uplink tap dtap0 (the host side is 10.0.0.1, the VMs'"
echo "   gateway), vm-to-vm deny, 40 MiB of guest memory resident at most (20 VMs of 2 MiB)"
printf '$ ip netns exec %s denalid serve ... --network 10.0.0.0/16 --uplink "tap dtap0" --vm-to-vm deny --memory-budget 40MiB &\n' "$NS"
start_daemon
grep -E 'network' "$LOG" | tail -1 | sed 's/^/  daemon: /'

say "100 UDP echo services and a web server, each with a NIC: the daemon allocates addresses, or takes the one asked for"
show client spawn udp-echo.elf --network --count 100 --memory 2MiB --name echo -- quiet
show client spawn httpd.elf --address 10.0.5.5 --memory 4MiB --name web
for _ in $(seq 1 600); do
  counts=$(state_counts)
  [[ $counts != *waiting_for_admission* && $counts != *swapping_in* && $counts != *running* ]] && break
  sleep 0.1
done
say "Booted in room for 20: $(state_counts)"
client list | head -4
echo "   ..."
client list | tail -2

say "From the host side, a datagram to echo services: the packet wakes a swapped-out VM, which is swapped in and answers"
for n in 1 25 50 75 100; do echo_off "10.0.0.$((n + 1))" "echo-$n"; done
echo_off 10.0.0.26 echo-25

say "The web server at the address it asked for (its built-in page, over Ilwaco's TCP)"
printf '$ ip netns exec %s curl -s http://10.0.5.5/\n' "$NS"
in_ns curl -s --max-time 20 http://10.0.5.5/ | head -5 || failures=$((failures + 1))

say "vm-to-vm = deny: a udp-client VM cannot reach echo-1 (the switch drops and counts), but reaches a host peer"
# (ip netns exec execs socat: $! is socat's own pid, for the cleanup)
ip netns exec "$NS" socat UDP4-RECVFROM:7,bind=10.0.0.1,fork EXEC:cat >/dev/null 2>&1 &
peer_pid=$!
show client spawn udp-client.elf --network --name blocked --memory 2MiB -- peer=10.0.0.2 count=2 timeout-ms=300 tries=2
show client spawn udp-client.elf --network --name allowed --memory 2MiB -- peer=10.0.0.1 count=2
for _ in $(seq 1 300); do
  [[ $(state_of blocked) == exited && $(state_of allowed) == exited ]] && break
  sleep 0.1
done
show client logs blocked
show client logs allowed
client inspect blocked | grep -E '^(state|address|network drops)'

say "Per-VM counters: inspect, and Prometheus series labelled by VM"
client inspect echo-50 | grep -E '^(state|address|mac|network|queued)'
printf '$ curl --unix-socket %s http://localhost/v1/metrics | grep ...\n' "$SOCKET"
curl -s --unix-socket "$SOCKET" http://localhost/v1/metrics \
  | grep -E 'denali_network_addresses|vm="50".*direction="in"|reason="vm-to-vm-denied"'

say "SIGTERM and restart: every VM keeps its address"
before=$(addresses)
stop_daemon
start_daemon
grep -E 'restarting' "$LOG" | tail -1 | sed 's/^/  daemon: /'
if [[ $(addresses) == "$before" ]]; then
  echo "   all $(echo "$before" | grep -c address) addresses are the same after the restart"
else
  echo "   addresses changed across the restart!"
  failures=$((failures + 1))
fi
echo_off 10.0.0.51 echo-50
stop_daemon
finish network
