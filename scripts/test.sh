#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh: packages, then the hookwire binary, with warnings as errors) and runs
# every check and test, as CI does (.ci/run):
#   format     scripts/check-format.sh: every tracked .h/.cc is as clang-format 14 leaves it;
#   ctest      the C++ unit and integration tests, built with ASan + UBSan in build-asan (-O0 with line tables,
#              asserts on, warnings as errors): every test runs once, under the sanitizers, a process per test
#              binary;
#   interop    the release binary (build/) against the official svix / standardwebhooks / stripe / octokit
#              libraries (node --test);
#   package    tests/packaging/deb.sh: the .deb built with CPack, installed (as root), checked and purged;
#   tsan       only with HOOKWIRE_TSAN=1: the stores', delivery and HTTP server tests built with TSan in
#              build-tsan (~3.5 min of build and 30 s of tests on 2 cores; run it before changing threads or
#              locking).
# Why the tests are built once, with sanitizers, and not also optimized: on CI's 2 cores the build is most of
# the time, and a second full build of the tests made CI take 25 minutes. The optimized code is still built
# with warnings as errors and exercised by the interop suite.
# Every phase runs even when an earlier one failed; the exit status is non-zero if any failed, and the last
# lines say which. HOOKWIRE_SANITIZERS=0 builds and runs the tests in build/ without sanitizers instead (a
# quicker local run after a small change, since build/ is already built optimized).
set -euo pipefail
cd "$(dirname "$0")/.."
export HOOKWIRE_WERROR=${HOOKWIRE_WERROR:-ON}
export HOOKWIRE_SETUP_TESTS=1  # setup.sh installs the test packages too
BUILD_DIR=${BUILD_DIR:-build}
SANITIZERS=${HOOKWIRE_SANITIZERS:-1}
# ccache when installed, as scripts/setup.sh does (CCACHE_DISABLE=1 turns it off).
if [ -z "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ] && command -v ccache >/dev/null 2>&1; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi

failed=()
summary=()
# phase NAME COMMAND...: runs the command, records its wall time and whether it failed.
phase() {
  local name=$1 start=$SECONDS rc=0
  shift
  echo "=== $name"
  "$@" || rc=$?
  summary+=("$(printf '%-8s %4ds  %s' "$name" $((SECONDS - start)) "$([ $rc = 0 ] && echo ok || echo "FAILED ($rc)")")")
  ((rc == 0)) || failed+=("$name")
}

# A sanitizer build of the test binaries only: -O0 with line tables builds fastest (the tests then run ~20 %
# slower than at -O1, which costs far less than the build saves) and keeps the stacks exact. Asserts stay on
# (no NDEBUG).
sanitizer_build() {
  local dir=$1 sanitize=$2
  shift 2
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O0 -g1" \
    -DHOOKWIRE_SANITIZE="$sanitize" -DHOOKWIRE_WERROR="$HOOKWIRE_WERROR" -DHOOKWIRE_BUILD_BENCH=OFF >/dev/null &&
    cmake --build "$dir" --target "$@"
}
run_ctest() { ctest --test-dir "$1" --output-on-failure -j2 --timeout 600 "${@:2}"; }
# (Phases run in an `||` context, where set -e is off: each step is chained with &&.)
asan_tests() { sanitizer_build build-asan address,undefined hookwire_tests && run_ctest build-asan; }
plain_tests() { cmake --build "$BUILD_DIR" --target hookwire_tests && run_ctest "$BUILD_DIR"; }
# TSan over the tests of the threaded parts: the stores (SQLite: writer, syncer, readers; PostgreSQL: writer,
# readers, feed watcher), the dispatcher and the HTTP client (delivery_test), the HTTP server. Tests of
# targets not built here are skipped (*_NOT_BUILT).
tsan_tests() {
  sanitizer_build build-tsan thread sqlite_store_test postgres_store_test delivery_test api_http_test &&
    run_ctest build-tsan -E '_NOT_BUILT$'
}

# Any sanitizer report fails its test: ASan aborts at the first error, UBSan too (-fno-sanitize-recover), TSan
# halts.
export ASAN_OPTIONS=abort_on_error=0:halt_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

phase setup scripts/setup.sh
phase format scripts/check-format.sh
if [ "$SANITIZERS" != 0 ]; then
  phase ctest asan_tests
else
  phase ctest plain_tests
fi
export HOOKWIRE_BIN="$PWD/$BUILD_DIR/src/cli/hookwire"
if [[ " ${failed[*]} " != *" setup "* ]]; then
  # --test-force-exit: a file whose test timed out still ends (its unfinished test may hold a server or a
  # child process that would keep it, and so the whole run, alive); the timeout is reported as a failure.
  # Node.js 20.14 and later have it; Debian 12's own nodejs (18) does not, and then runs without it.
  force_exit=()
  node --test-force-exit -e '' 2>/dev/null && force_exit=(--test-force-exit)
  phase interop node --test "${force_exit[@]}" --test-concurrency=1 tests/interop/
fi
if [[ " ${failed[*]} " != *" setup "* ]]; then
  phase package tests/packaging/deb.sh "$BUILD_DIR"
fi
[ "$SANITIZERS" = 0 ] || [ "${HOOKWIRE_TSAN:-0}" = 0 ] || phase tsan tsan_tests

echo "=== summary"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all passed"
