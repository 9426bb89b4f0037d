#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs `hookwire serve` on the embedded default store
# (./hookwire-data, http://127.0.0.1:8071). Extra arguments go to `hookwire serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
HOOKWIRE_SKIP_NPM=${HOOKWIRE_SKIP_NPM:-1} scripts/setup.sh
exec "${BUILD_DIR:-build}/src/cli/hookwire" serve "$@"
