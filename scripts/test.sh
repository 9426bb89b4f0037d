#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs every test: the C++ unit and integration tests through ctest,
# then the interop tests (hookwire against the official svix / standardwebhooks / stripe / octokit libraries)
# through node's test runner. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
export HOOKWIRE_BIN="$PWD/$BUILD_DIR/src/cli/hookwire"

status=0
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 600 || status=1
node --test --test-concurrency=1 tests/interop/ || status=1
exit $status
