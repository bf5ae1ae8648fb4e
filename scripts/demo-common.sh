# scripts/demo-common.sh: what the daemon parts of the demo share, sourced by demo-daemon.sh and demo-network.sh:
# printing steps, the client commands, waiting for a daemon just started, stopping it, and the final verdict.
# Expects DENALID, SOCKET and LOG to be set; keeps the daemon's pid in daemon_pid and counts failures.
failures=0
daemon_pid=

# show COMMAND...: print the command, run it, report an unexpected failure.
show() {
  printf '$ %s\n' "$*"
  "$@" || { printf '[failed: exit status %d]\n' "$?"; failures=$((failures + 1)); }
}
say() { printf '\n== %s\n' "$*"; }
export DENALID_SOCKET=$SOCKET  # every client command talks to this daemon
client() { "$DENALID" "$@"; }
# state_counts: how many VMs are in each state, on one line.
state_counts() { client list --json | grep -o '"state":"[a-z_]*"' | cut -d'"' -f4 | sort | uniq -c | awk '{printf "%s %s  ", $2, $1}'; }

# await_daemon PID: the daemon just started as PID; waits until it answers, or ends the demo with its log.
await_daemon() {
  daemon_pid=$1
  for _ in $(seq 1 600); do
    client stats >/dev/null 2>&1 && return 0
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "demo: the daemon did not start:" >&2
  cat "$LOG" >&2
  exit 1
}

# stop_daemon: SIGTERM, then its exit status (anything but 0 is a failure).
stop_daemon() {
  kill -TERM "$daemon_pid"
  wait "$daemon_pid"
  local status=$?
  daemon_pid=
  printf '[daemon exit status %d]\n' "$status"
  ((status == 0)) || failures=$((failures + 1))
}

# finish PART: the verdict of this part of the demo; with failures, the daemon's log and status 1.
finish() {
  if ((failures > 0)); then
    printf '\ndemo: %d %s step(s) failed; the daemon log follows\n' "$failures" "$1" >&2
    cat "$LOG" >&2
    exit 1
  fi
  printf '\ndemo: the %s part ended as expected\n' "$1"
}
