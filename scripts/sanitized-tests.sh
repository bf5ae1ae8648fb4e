#!/usr/bin/env bash
# scripts/sanitized-tests.sh thread|address [FILTER]: the suite under ThreadSanitizer or AddressSanitizer.
# Builds into .build-tsan or .build-asan, runs every test (or those matching FILTER) with the daemon the
# end-to-end tests start built the same way, collects every sanitizer report (the tests' own process and every
# denalid they start) under the build folder's reports/, and fails if there is any report. Failed tests are
# listed too, but do not fail the run: the sanitizers slow the host side 5-15x, which breaks the tests' timing
# bounds (wake-up lateness, rates); every functional failure shows up in `make test` as well.
# `make test-tsan` and `make test-asan` run it; Docs/ARCHITECTURE.md ("Sanitizers") says what is covered.
set -uo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: sanitized-tests.sh thread|address [FILTER]}
filter=${2:-}
case $kind in
  thread) scratch=.build-tsan; variable=TSAN_OPTIONS; options="halt_on_error=0:exitcode=0:second_deadlock_stack=1" ;;
  # detect_stack_use_after_return=0: its fake stack frames live on the heap, which would defeat the test that
  # measures a thread's stack depth through a local's address.
  address) scratch=.build-asan; variable=ASAN_OPTIONS
    options="halt_on_error=0:exitcode=0:detect_leaks=0:detect_stack_use_after_return=0" ;;
  *) echo "sanitized-tests: expected thread or address, got $kind" >&2; exit 2 ;;
esac
JOBS=${JOBS:-$(nproc)}
reports=$PWD/$scratch/reports
rm -rf "$reports"
mkdir -p "$reports"
chmod 0777 "$reports" # the end-to-end tests also start denalid as other users

# The sanitizers' runtimes do not link with the static Swift runtime denalid otherwise gets (Package.swift).
export DENALI_SWIFT_RUNTIME=dynamic
# The daemons run without their seccomp filters: a sanitizer writes its report to a file named by log_path and may
# start a symbolizer, which the filters refuse (the report would turn into a seccomp stop). The confinement tests
# that need the filters are listed among the failures then; `make test` runs them.
export DENALI_SECCOMP=off
echo "sanitized-tests: building with -sanitize=$kind into $scratch"
swift build --build-tests -j "$JOBS" --sanitize="$kind" --scratch-path "$scratch" || exit 1

# Reports go to files (log_path), not to stderr, so that the tests that read a daemon's stderr are unaffected.
export "$variable=$options:log_path=$reports/report"
args=(--skip-build --sanitize="$kind" --scratch-path "$scratch")
[[ -n $filter ]] && args+=(--filter "$filter")
DENALI_GUESTS_DIR=$PWD/Guests/build DENALID=$PWD/$scratch/debug/denalid \
  SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=$JOBS swift test "${args[@]}" 2>&1 | tee "$reports/../tests.log"
failed=$(grep -c '^✘ Test "' "$reports/../tests.log" || true)
((failed > 0)) && echo "sanitized-tests: $failed tests failed under the sanitizer (see $scratch/tests.log):" \
  && grep '^✘ Test "' "$reports/../tests.log" | grep -v "recorded an issue" | head -40
status=0

count=$(cat "$reports"/report* 2>/dev/null | grep -c "^WARNING: \|^==[0-9]*==ERROR: " || true)
if ((count > 0)); then
  echo "sanitized-tests: $count $kind sanitizer report(s) in $reports:"
  cat "$reports"/report* | grep -A12 "^WARNING: \|^==[0-9]*==ERROR: " | head -200
  status=1
else
  echo "sanitized-tests: no $kind sanitizer reports"
fi
exit $status
