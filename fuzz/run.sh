#!/usr/bin/env bash
# Builds the fuzz targets with clang (libFuzzer + ASan + UBSan, UB is fatal) in a CMake build configured with
# -DHOOKWIRE_FUZZ=ON, and runs each for SECONDS seconds, JOBS targets at a time. Not part of the test command.
#   fuzz/run.sh [SECONDS] [TARGET...]      e.g. fuzz/run.sh 660      or   fuzz/run.sh 60 fuzz_query
#   SECONDS=0 only builds. Environment: JOBS (targets run at once, default 1), BUILD_JOBS (ninja -j, default 2),
#   CXX (default clang++-14), NO_BUILD=1 (run the targets as last built).
# Output: fuzz/out/build (the build), fuzz/out/logs/<target>.log, new corpus units in fuzz/out/corpus/<target>
# (the kept seeds, fuzz/corpus/<target>, are read too), crashes as fuzz/out/<target>-crash-*.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-600}
shift || true
TARGETS=("$@")
if ((${#TARGETS[@]} == 0)); then
  TARGETS=(fuzz_standard_header fuzz_stripe_header fuzz_provider_headers fuzz_secret
           fuzz_json_bodies fuzz_query fuzz_config_file fuzz_http_request)
fi
JOBS=${JOBS:-1}
OUT=fuzz/out
# clang and its libFuzzer/sanitizer runtimes: installed here when missing, not by scripts/setup.sh (CI never
# fuzzes). With CXX set, the caller brings its own compiler.
if [[ -z ${CXX:-} ]]; then
  missing=()
  for p in clang-14 libclang-rt-14-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi
mkdir -p "$OUT/logs"

# Every library is instrumented (-fsanitize=fuzzer-no-link,address,undefined, see the top-level
# CMakeLists.txt); -O1 as libFuzzer recommends; jemalloc off (ASan replaces malloc).
if [[ ! -f "$OUT/build/build.ninja" ]]; then
  cmake -S . -B "$OUT/build" -G Ninja -DCMAKE_CXX_COMPILER="${CXX:-clang++-14}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DHOOKWIRE_FUZZ=ON \
    -DHOOKWIRE_JEMALLOC=OFF -DHOOKWIRE_BUILD_TESTS=OFF -DHOOKWIRE_BUILD_BENCH=OFF
fi
[[ -n ${NO_BUILD:-} ]] || ninja -C "$OUT/build" -j "${BUILD_JOBS:-2}" "${TARGETS[@]}"
((SECONDS_PER_TARGET > 0)) || exit 0

# Seeds of the signing targets: the PROTOCOLS.md vectors in each target's shape. The request-path targets keep
# theirs, minimized, in fuzz/corpus/<target>.
seed() { mkdir -p "$OUT/corpus/$1"; printf '%s' "$2" > "$OUT/corpus/$1/seed_$(printf '%s' "$2" | md5sum | cut -c1-8)"; }
seed fuzz_standard_header 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg== v2,x'
seed fuzz_stripe_header 't=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39'
seed fuzz_provider_headers 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'
seed fuzz_secret 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
seed fuzz_secret 'whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=='
seed fuzz_secret 'whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4='

run_one() {
  local t=$1 rc=0
  local args=(-max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
              -artifact_prefix="$OUT/$t-")
  [[ -f fuzz/$t.dict ]] && args+=(-dict="fuzz/$t.dict")
  mkdir -p "$OUT/corpus/$t"
  local dirs=("$OUT/corpus/$t")
  [[ -d fuzz/corpus/$t ]] && dirs+=("fuzz/corpus/$t")
  echo "run $t for ${SECONDS_PER_TARGET}s (started $(date -u +%FT%TZ))"
  "$OUT/build/fuzz/$t" "${args[@]}" "${dirs[@]}" > "$OUT/logs/$t.log" 2>&1 || rc=$?
  echo "done $t rc=$rc (ended $(date -u +%FT%TZ)): $(grep -E '^#[0-9]+[[:space:]]+DONE' "$OUT/logs/$t.log" || true)" \
       "$(grep -E 'stat::number_of_executed_units' "$OUT/logs/$t.log" || true)"
  return $rc
}
export -f run_one
export OUT SECONDS_PER_TARGET
printf '%s\n' "${TARGETS[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one {}'
