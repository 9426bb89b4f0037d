#!/usr/bin/env bash
# Installs what hookwire needs to build and run on Debian 12 (with HOOKWIRE_SETUP_TESTS=1, as scripts/test.sh
# sets it: to test too), idempotently, then builds the hookwire binary (build/src/cli/hookwire; the tests are
# built by scripts/test.sh, the benchmarks' binaries by their scripts). Safe to run again: apt and npm skip
# what is already there; the build is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

# What building and running hookwire needs (scripts/run.sh installs only these)...
DEBIAN_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev libpq-dev libjemalloc-dev
  libcli11-dev libspdlog-dev libfmt-dev libtomlplusplus-dev
  ccache  # used by the build when installed: a rebuild after a branch switch or a clean is mostly cache hits
)
# ...and what the tests add (scripts/test.sh sets HOOKWIRE_SETUP_TESTS=1): GoogleTest, the benchmarks' library
# (build/ also builds the benchmarks then), clang-format, openssl (the TLS delivery test makes its CA), git
# (check-format lists tracked files), PostgreSQL 15 (the PostgreSQL store's tests start a throwaway cluster of
# their own: store/testing/pg_cluster.h), Node.js for the interop tests and Chromium for the web UI's (driven
# headless by playwright-core from npm: tests/interop/ui_*.test.mjs).
TEST_PACKAGES=(libgtest-dev libgmock-dev libbenchmark-dev clang-format openssl git postgresql-15 chromium)
TESTS=${HOOKWIRE_SETUP_TESTS:-0}
((TESTS)) && DEBIAN_PACKAGES+=("${TEST_PACKAGES[@]}")

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js runs the interop tests only. A machine may already have its own node/npm (not Debian's packages,
# which would then conflict): install Debian's only when the commands are missing.
if ((TESTS)); then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ((TESTS)) && [ "${HOOKWIRE_SKIP_NPM:-0}" != 1 ]; then
  (cd tests/interop && { [ -d node_modules ] && npm ls --silent >/dev/null 2>&1 || npm install --no-audit --no-fund --loglevel=error; })
fi

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
# ccache when installed, unless the caller chose a launcher (CMake reads this variable when it first configures
# a build dir; CCACHE_DISABLE=1 turns it off for one run).
if [ -z "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ] && command -v ccache >/dev/null 2>&1; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi
# HOOKWIRE_WERROR=ON (scripts/test.sh sets it): warnings are errors, as in CI.
# Without the test packages, build/ is configured without the tests and benchmarks (their libraries are absent).
onoff=$( ((TESTS)) && echo ON || echo OFF)
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
  -DHOOKWIRE_BUILD_TESTS="$onoff" -DHOOKWIRE_BUILD_BENCH="$onoff" \
  ${HOOKWIRE_WERROR:+-DHOOKWIRE_WERROR="$HOOKWIRE_WERROR"} >/dev/null
cmake --build "$BUILD_DIR" --target hookwire
