#!/usr/bin/env bash
# scripts/schemathesis.sh: fuzzes the control API against Docs/openapi.yaml with schemathesis (PyPI), over the
# unix socket of control-api-fixture (the real server code over an in-memory backend that runs no guests),
# reached through a local TCP proxy (socat) since schemathesis speaks TCP. Fails on any server error, any
# response that does not match the document, or any other schemathesis check.
# TARGET=daemon fuzzes the real daemon instead (`denalid serve` with the engine: VMs run, hello.elf is a real
# guest, state in a temporary directory); DAEMON_FLAGS adds `serve` flags, such as "--network 10.200.0.0/16"
# (a network without an uplink: VMs get addresses, no TAP device is made).
#   [TARGET=daemon [DAEMON_FLAGS=...]] scripts/schemathesis.sh [extra schemathesis options, e.g. --max-examples 200]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then export PATH="/opt/swift/usr/bin:$PATH"; fi

command -v socat >/dev/null || { echo "schemathesis.sh: socat is missing (scripts/setup.sh installs it)" >&2; exit 1; }
if ! command -v schemathesis >/dev/null 2>&1; then
  echo "schemathesis.sh: installing schemathesis from PyPI"
  python3 -m pip install --quiet schemathesis
fi

target=${TARGET:-fixture}
if [[ $target == daemon ]]; then
  make -s -C Guests >/dev/null
  swift build --product denalid >/dev/null
else
  swift build --product control-api-fixture >/dev/null
fi
work=$(mktemp -d /tmp/denali-schemathesis.XXXXXX)
fixture_pid=
proxy_pid=
cleanup() {
  [[ -n $proxy_pid ]] && kill "$proxy_pid" 2>/dev/null || true
  [[ -n $fixture_pid ]] && kill "$fixture_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/images"
if [[ $target == daemon ]]; then
  # A real guest that exits at once, so followed consoles end.
  cp Guests/build/hello.elf "$work/images/hello.elf"
  .build/debug/denalid serve --config /dev/null --socket "$work/api.sock" --socket-group "" --image-dir "$work/images" \
    --state-dir "$work/state" --max-vms 2000 --memory-budget 512MiB --keep-finished 200 ${DAEMON_FLAGS:-} 2>"$work/fixture.log" &
else
  printf 'fixture image\n' > "$work/images/hello.elf"
  # Short VM lifetimes end followed consoles, so follow=true requests finish.
  .build/debug/control-api-fixture --socket "$work/api.sock" --image-dir "$work/images" --max-vms 2000 --lifetime 0.5 \
    2>"$work/fixture.log" &
fi
fixture_pid=$!
for _ in $(seq 50); do [[ -S $work/api.sock ]] && break; sleep 0.1; done
[[ -S $work/api.sock ]] || { echo "schemathesis.sh: the fixture did not start:" >&2; cat "$work/fixture.log" >&2; exit 1; }

port=$((20000 + RANDOM % 20000))
socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$work/api.sock" &
proxy_pid=$!
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/v1/health" >/dev/null && break; sleep 0.1; done

status=0
schemathesis run Docs/openapi.yaml --url "http://127.0.0.1:$port" --checks all \
  --exclude-checks positive_data_acceptance \
  --request-timeout 10 --max-examples "${MAX_EXAMPLES:-100}" --no-color "$@" || status=$?
if grep -q "Fatal\|panic\|critical" "$work/fixture.log" || ! kill -0 "$fixture_pid" 2>/dev/null; then
  echo "schemathesis.sh: the server logged a crash:" >&2
  cat "$work/fixture.log" >&2
  status=1
fi
exit $status
