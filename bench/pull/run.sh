#!/usr/bin/env bash
# bench/pull: the pull door's benchmark (issue #19). A benchmark, not a test: never part of the test command.
# See bench/pull/README.md.
#
#   bench/pull/run.sh [lag|catchup|cost|all]     (default all)
#
# lag      100 long-poll consumers and 1,000 SSE streams (pull_client.cc), each on its own application, while
#          wrk posts 5,000 messages/s at a fixed rate (publish_timed.lua): 2xx-to-reader lag p50/p99; and wrk's
#          ingest rate with those readers connected next to the rate without them, in the same run
# catchup  one consumer pages a 1,000,000-message log with limit=250: events/s
# cost     requests, bytes and delay per delivered event for push, long-poll, SSE and polling every 1 s
#          (measured at COST_RATE events/s), and the figures at 1 event/minute and for polling every 60 s
#          computed from the measured per-request costs
#
# Environment: LONG_POLL (100), SSE (1000), RATE (5000), PUBLISH_SECONDS (20), PUBLISH_CONNECTIONS (64), WAIT (30),
# WARMUP_RUNS (2), DURATION (wrk, 10s), CONNECTIONS (64), WRK_THREADS (2), BODY_BYTES (1024), CATCHUP_MESSAGES
# (1000000), COST_RATE (100), COST_SECONDS (20), HOOKWIRE_BIN, BUILD_DIR, KEEP=1 (as bench/ingest).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MODE=${1:-all}
case $MODE in lag | catchup | cost | all) ;; *) echo "usage: $0 [lag|catchup|cost|all]" >&2; exit 2 ;; esac
export LONG_POLL=${LONG_POLL:-100} SSE=${SSE:-1000} RATE=${RATE:-5000} PUBLISH_SECONDS=${PUBLISH_SECONDS:-20}
export APPS=$((LONG_POLL + SSE))
CATCHUP_MESSAGES=${CATCHUP_MESSAGES:-1000000}
TOKEN=t
export TOKEN

BENCH_NAME=bench/pull
# shellcheck source=../lib/common.sh
. "$REPO/bench/lib/common.sh"
bench_prereqs node:nodejs
bench_wrk_defaults
bench_build_hookwire
bench_init hookwire-bench-pull
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); hookwire $HOOKWIRE_BIN"
SUMMARY=$WORK/summary.txt
: >"$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
res() { awk -F= -v k="RESULT $2" '$1 == k { print $2 }' "$1"; }
stop_hookwire() { stop_pid "$HOOKWIRE_PID" TERM 60; HOOKWIRE_PID=""; }

ingest_rate() {  # label -> messages/s acknowledged by wrk over DURATION, to the APPS applications in turn
  BENCH_APP=pull BENCH_APPS=$APPS BENCH_TOKEN=$TOKEN BENCH_BODY_BYTES=$BODY_BYTES \
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$REPO/bench/ingest/post_message.lua" "$HW_URL" \
    >"$WORK/wrk-$1.txt" 2>&1
  local ok us
  ok=$(res "$WORK/wrk-$1.txt" ok2xx); us=$(res "$WORK/wrk-$1.txt" duration_us)
  [ "$(res "$WORK/wrk-$1.txt" non2xx)" = 0 ] || die "wrk $1: non-2xx answers: $(res "$WORK/wrk-$1.txt" first_error)"
  awk -v ok="$ok" -v us="$us" 'BEGIN { printf "%.0f", ok / (us / 1e6) }'
}

# The C++ readers (pull_client.cc): compiled once into build-bench/, again when the source is newer.
PULL_CLIENT=$REPO/build-bench/pull_client
build_client() {
  if [ ! -x "$PULL_CLIENT" ] || [ "$HERE/pull_client.cc" -nt "$PULL_CLIENT" ]; then
    log "compiling $PULL_CLIENT"
    mkdir -p "$(dirname "$PULL_CLIENT")"
    c++ -std=c++20 -O2 -o "$PULL_CLIENT" "$HERE/pull_client.cc" -lboost_json -pthread
  fi
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # user + system clock ticks of a process
hw_host() { local h=${HW_URL#http://}; echo "${h%%:*}"; }
hw_port() { local h=${HW_URL#http://}; h=${h%%/*}; echo "${h##*:}"; }

lag() {
  build_client
  start_hookwire lag --data-dir "$WORK/lag-data" --log-level warn --max-connections 20000
  HW_URL=$HW_URL node "$HERE/pull.mjs" setup
  # The ingest runs, in this order: without readers (a), with them (a), the lag phase, with them (b), without
  # them (b). Ingest slows as the database grows (with 1,100 applications each message's index entries land on
  # pages all over the indexes), so the ratio compares the two means, whose runs sit at the same mean place.
  # Ingest is fastest on the first few hundred thousand messages and then slows little by little: WARMUP_RUNS
  # (2) runs first, not counted, so that the four counted ones sit where the slope is gentle.
  local r0a r1a r1b r0b w
  for w in $(seq 1 "${WARMUP_RUNS:-2}"); do log "warm-up ingest $w: $(ingest_rate "warmup-$w")/s"; done
  r0a=$(ingest_rate without-a)
  log "ingest without readers: $r0a/s"
  "$PULL_CLIENT" readers "$(hw_host)" "$(hw_port)" "$TOKEN" "$LONG_POLL" "$SSE" "${WAIT:-30}" "$WORK/received.txt" \
    >"$WORK/readers.out" 2>"$WORK/readers.err" &
  local readers=$!
  EXTRA_PIDS+=("$readers")
  for _ in $(seq 1 600); do grep -q READY "$WORK/readers.out" && break; kill -0 "$readers" || { cat "$WORK/readers.err" >&2; die "readers exited"; }; sleep 0.1; done
  grep -q READY "$WORK/readers.out" || die "readers did not connect within 60 s"
  local hw0 rd0 hw1 rd1
  hw0=$(cpu_ticks "$HOOKWIRE_PID"); rd0=$(cpu_ticks "$readers")
  r1a=$(ingest_rate with-a)
  hw1=$(cpu_ticks "$HOOKWIRE_PID"); rd1=$(cpu_ticks "$readers")
  log "ingest with readers: $r1a/s"
  RATE=$RATE APPS=$APPS WRK_THREADS=2 BENCH_TOKEN=$TOKEN BODY_BYTES=$BODY_BYTES PUBLISHED_PREFIX=$WORK/published. \
    wrk -t2 -c"${PUBLISH_CONNECTIONS:-64}" -d"${PUBLISH_SECONDS}s" -s "$HERE/publish_timed.lua" "$HW_URL" \
    >"$WORK/publish.out" 2>&1
  r1b=$(ingest_rate with-b)
  log "ingest with readers (after the lag phase): $r1b/s"
  # The readers have had every message for the second run's whole length: they stop and write what they got.
  stop_pid "$readers" TERM 30
  r0b=$(ingest_rate without-b)
  log "ingest without readers (after): $r0b/s"
  PUBLISHED_GLOB="$WORK/published." RECEIVED=$WORK/received.txt node "$HERE/pull.mjs" lag >"$WORK/lag.out"
  local tick
  tick=$(getconf CLK_TCK)
  say "== lag: $LONG_POLL long-poll consumers + $SSE SSE streams (one C++ process), $RATE messages/s for ${PUBLISH_SECONDS} s (1 KB, wrk at a fixed rate)"
  say "   published $(res "$WORK/publish.out" published) (failed $(res "$WORK/publish.out" publish_failed)), at $(res "$WORK/publish.out" publish_rate)/s, 2xx p50 $(res "$WORK/publish.out" publish_p50_us) us p99 $(res "$WORK/publish.out" publish_p99_us) us; received $(res "$WORK/lag.out" received), missing $(res "$WORK/lag.out" missing)"
  say "   2xx-to-reader lag: p50 $(res "$WORK/lag.out" ack_to_reader_p50_ms) ms, p90 $(res "$WORK/lag.out" ack_to_reader_p90_ms) ms, p99 $(res "$WORK/lag.out" ack_to_reader_p99_ms) ms, p99.9 $(res "$WORK/lag.out" ack_to_reader_p99.9_ms) ms, max $(res "$WORK/lag.out" ack_to_reader_max_ms) ms (target p99 <= 20 ms)"
  say "   send-to-reader: p50 $(res "$WORK/lag.out" send_to_reader_p50_ms) ms, p99 $(res "$WORK/lag.out" send_to_reader_p99_ms) ms, max $(res "$WORK/lag.out" send_to_reader_max_ms) ms; arrived before the publisher read its 2xx: $(res "$WORK/lag.out" arrived_before_ack)"
  say "   ingest (wrk, $CONNECTIONS connections, $DURATION each, in this order): without readers $r0a/s, with readers $r1a/s, (lag phase), with readers $r1b/s, without readers $r0b/s: ratio of the means $(awk -v a="$r1a" -v b="$r1b" -v c="$r0a" -v d="$r0b" 'BEGIN { printf "%.3f", (a + b) / (c + d) }') (target >= 0.90)"
  say "   CPU during the first run with readers: hookwire $(awk -v t=$((hw1 - hw0)) -v k="$tick" 'BEGIN { printf "%.1f", t / k }') s, readers $(awk -v t=$((rd1 - rd0)) -v k="$tick" 'BEGIN { printf "%.1f", t / k }') s"
  stop_hookwire
}

catchup() {
  build_client
  start_hookwire cu-setup --data-dir "$WORK/cu-data" --log-level warn
  api POST /api/v1/app '{"name":"catchup","uid":"catchup"}' >/dev/null
  api POST /api/v1/app/catchup/endpoint '{"uid":"sink","url":"https://pull.invalid/unused","pullOnly":true}' >/dev/null
  stop_hookwire
  log "catch-up: inserting $CATCHUP_MESSAGES messages of ~1 KB with sqlite3"
  local app_id
  app_id=$(sqlite3 "$WORK/cu-data/hookwire.db" "SELECT id FROM applications WHERE uid = 'catchup'")
  sqlite3 "$WORK/cu-data/hookwire.db" <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $CATCHUP_MESSAGES)
INSERT INTO messages (rowid, app_id, id, event_type, payload, created_at)
SELECT i, '$app_id', printf('msg_%027d', i), 'bench.pull',
       '{"seq":' || i || ',"data":"' || printf('%.*c', $BODY_BYTES - 40, 'x') || '"}', CAST(strftime('%s', 'now') AS INTEGER) * 1000 - $CATCHUP_MESSAGES + i FROM n;
SQL
  start_hookwire cu --data-dir "$WORK/cu-data" --log-level warn
  local hw0 hw1 tick
  tick=$(getconf CLK_TCK)
  hw0=$(cpu_ticks "$HOOKWIRE_PID")
  "$PULL_CLIENT" catchup "$(hw_host)" "$(hw_port)" "$TOKEN" catchup >"$WORK/catchup.out"
  hw1=$(cpu_ticks "$HOOKWIRE_PID")
  say "== catch-up: one consumer (C++, Boost.JSON parses every page), limit=250, $(res "$WORK/catchup.out" catchup_events) messages of ~1 KB"
  say "   $(res "$WORK/catchup.out" catchup_events_per_s) events/s ($(res "$WORK/catchup.out" catchup_seconds) s, $(res "$WORK/catchup.out" catchup_requests) requests, $(res "$WORK/catchup.out" catchup_mb_per_s) MB/s of JSON; hookwire used $(awk -v t=$((hw1 - hw0)) -v k="$tick" 'BEGIN { printf "%.2f", t / k }') s of CPU) (target >= 100,000 events/s)"
  stop_hookwire
}

cost() {
  start_hookwire cost --data-dir "$WORK/cost-data" --log-level warn --delivery-allow-cidr 127.0.0.0/8
  HW_URL=$HW_URL node "$HERE/pull.mjs" cost >"$WORK/cost.out"
  cat "$WORK/cost.out" >>"$WORK/cost.results"
  say "== cost per delivered event at ${COST_RATE:-100} events/s (measured): requests, bytes (both directions), delay after the 2xx"
  local m
  for m in push longpoll sse poll1; do
    say "   $(printf '%-9s' $m) $(res "$WORK/cost.out" ${m}_requests_per_event) requests/event, $(res "$WORK/cost.out" ${m}_bytes_per_event) bytes/event, delay p50 $(res "$WORK/cost.out" ${m}_delay_p50_ms) ms p99 $(res "$WORK/cost.out" ${m}_delay_p99_ms) ms ($(res "$WORK/cost.out" ${m}_received)/$(res "$WORK/cost.out" ${m}_events) received)"
  done
  say "   one empty poll: $(res "$WORK/cost.out" empty_poll_bytes) bytes; SSE heartbeats seen: $(res "$WORK/cost.out" sse_heartbeats)"
  stop_hookwire
}

case $MODE in
  lag) lag ;;
  catchup) catchup ;;
  cost) cost ;;
  all) lag; catchup; cost ;;
esac
log "summary:"
cat "$SUMMARY" >&2
