#!/usr/bin/env bash
# scripts/setup.sh: installs the Debian packages the build needs and checks the Swift toolchain.
# Cheap when everything is there (one `dpkg -s` per package); runs `apt-get update` only if something is missing.
set -euo pipefail

# linux-libc-dev: linux/kvm.h for Sources/CKVM and the C baseline; libc6-dev, gcc, make: C builds;
# libcap-dev: dropping capabilities; linux-perf: guest instruction counts in benchmarks;
# iproute2, iputils-ping, socat: the network tests and `denali-bench net` (namespaces, ping, UDP echo);
# systemd: systemd-analyze, which checks Config/denalid.service in the tests; curl: the refused-peer tests
# (run as another user through setpriv, from util-linux) and scripts/schemathesis.sh, which also puts a
# socat TCP proxy in front of the unix socket; python3: the Linux peer of the TCP tests and `denali-bench tcp`
# (scripts/tcp-peer.py: echo checks, bulk transfers, a SYN flood over a raw socket, a lossy relay); ethtool: the
# lossy-path tests turn off checksum offload on their veth (the relay forwards frames as they are); nftables: the
# test that publishes a VM's port with DNAT, as Docs/NETWORK.md shows, with procps' sysctl; apache2-utils (ab) and
# wrk: the httpd load tests and `denali-bench http`; dpkg-dev (dpkg-shlibdeps), binutils (strip), lintian: `make deb`
# and its tests; man-db: the man page tests; git: the commit a build names (scripts/git-commit.sh); gnuplot-nox: the
# plot of `denali-bench web` (throughput and latency against the number of VMs).
PACKAGES=(linux-libc-dev libc6-dev make gcc libcap-dev linux-perf iproute2 iputils-ping socat systemd curl util-linux python3
  ethtool nftables procps apache2-utils wrk dpkg-dev binutils lintian man-db git gnuplot-nox)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: install them as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q </dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi

# Swift 6.3.1 lives at /opt/swift; it is not installed by this script.
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi
if ! version=$(swift --version 2>/dev/null | head -n 1) || [[ -z $version ]]; then
  echo "setup: error: swift not found (expected Swift 6.3.1 at /opt/swift/usr/bin); install it and put it on PATH" >&2
  exit 1
fi
if [[ $version != *"Swift version 6."* ]]; then
  echo "setup: warning: expected Swift 6.3.1, found: $version" >&2
fi

if [[ ! -e /dev/kvm ]]; then
  echo "setup: note: /dev/kvm is missing: guests cannot run here (tests that need KVM will skip, or fail in CI)" >&2
fi

echo "setup: ok (${PACKAGES[*]} installed; $version)"
