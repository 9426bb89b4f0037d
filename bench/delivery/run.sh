#!/usr/bin/env bash
# bench/delivery: the delivery engine's benchmarks (issue #4). A benchmark, not a test: never part of the test
# command. See bench/delivery/README.md.
#
#   bench/delivery/run.sh [throughput|latency|retries|all]     (default all)
#
# throughput  deliveries/s of 1 KB messages to a local nginx `return 200` sink, attempts logged, next to wrk's
#             requests/s against the same sink in the same run (the machine's HTTP ceiling)
# latency     API 2xx -> receiver arrival at 1,000 messages/s (bench/delivery/latency.mjs)
# retries     1,000,000 pending retries in the store: restart-to-ready time and resident memory
#
# Environment:
#   ENDPOINTS        endpoints of the throughput app (default 32; each one subscribed to its own channel)
#   LOAD_DURATION    wrk time loading messages with delivery off (default 15s)
#   CEIL_DURATION    wrk time against the sink for the ceiling (default 10s)
#   CONNECTIONS, WRK_THREADS, BODY_BYTES  wrk settings (64, 2, 1024)
#   SAMPLE_MS        sampling period during the drain (default 200): the sink's count, then /metrics at the end
#   NGINX_WORKERS    sink worker_processes (default auto)
#   RATE, LAT_SECONDS, WARMUP_SECONDS  latency: messages/s (1000), measured seconds (20), warm-up (2)
#   RETRIES          retries: pending deliveries to insert (default 1000000); LEASED (default 1000) leased ones
#   IDLE_SECONDS     retries: idle time before the second memory reading (default 10)
#   PERF=1           throughput: also profile hookwire with `perf record` for PERF_SECONDS (default 5) of the drain
#                    and print the top symbols of the whole process and of its busiest non-store thread
#   STRACE=1         throughput: also `strace -c -f` hookwire over the drain (syscall counts; slows it: not for rates)
#   PERF_CALLGRAPH=1 with PERF=1: record call graphs too (dwarf), for `perf report --children` on the kept data
#   HOOKWIRE_BIN, BUILD_DIR, KEEP=1  as in bench/ingest/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MODE=${1:-all}
case $MODE in throughput | latency | retries | all) ;; *) echo "usage: $0 [throughput|latency|retries|all]" >&2; exit 2 ;; esac
ENDPOINTS=${ENDPOINTS:-32}
LOAD_DURATION=${LOAD_DURATION:-15s}
[[ $LOAD_DURATION =~ ^[0-9]+$ ]] && LOAD_DURATION="${LOAD_DURATION}s"
CEIL_DURATION=${CEIL_DURATION:-10s}
[[ $CEIL_DURATION =~ ^[0-9]+$ ]] && CEIL_DURATION="${CEIL_DURATION}s"
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
BODY_BYTES=${BODY_BYTES:-1024}
SAMPLE_MS=${SAMPLE_MS:-200}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
RATE=${RATE:-1000}
LAT_SECONDS=${LAT_SECONDS:-20}
WARMUP_SECONDS=${WARMUP_SECONDS:-2}
RETRIES=${RETRIES:-1000000}
LEASED=${LEASED:-1000}
IDLE_SECONDS=${IDLE_SECONDS:-10}
TOKEN=t
APP=bench

BENCH_NAME=bench/delivery
# shellcheck source=../lib/common.sh
. "$REPO/bench/lib/common.sh"
bench_prereqs node:nodejs
bench_build_hookwire
bench_init hookwire-bench-delivery

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "machine: $(nproc) cores, load average $LOAD_AT_START; hookwire $HOOKWIRE_BIN"
SUMMARY=$WORK/summary.txt
: >"$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
metric() {  # file name-with-labels -> value (0 if absent)
  awk -v k="$2" '$1 == k { v = $2 } END { printf "%.0f", v + 0 }' "$1"
}
scrape() { curl -fsS -H "Authorization: Bearer $TOKEN" "$HW_URL/metrics"; }
rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.0f MB", kb / 1024 }'; }
stop_hookwire() { stop_pid "$HOOKWIRE_PID" TERM 60; HOOKWIRE_PID=""; }

# ==== (a) throughput ===========================================================================================
throughput() {
  log "throughput: nginx sink, $ENDPOINTS endpoints"
  start_nginx "$NGINX_WORKERS"
  log "sink: nginx $(nginx -v 2>&1 | sed 's|.*/||') on $NGINX_URL, worker_processes $NGINX_WORKERS"

  # The ceiling: wrk POSTing the same ~1 KB JSON bodies to the sink, once before the load and once after the
  # drain. The machine's speed drifts by a quarter within minutes; the mean of the two brackets the drain.
  log "ceiling: wrk -t$WRK_THREADS -c$CONNECTIONS -d$CEIL_DURATION against the sink"
  DURATION=$CEIL_DURATION run_wrk "$NGINX_URL" ceiling $(nginx_pids)
  local ceil_before
  ceil_before=$(per_sec "$(result ceiling ok2xx)" "$(result ceiling duration_us)")

  # Load messages with delivery off: each one fans out to exactly one endpoint (its channel's).
  local data=$WORK/tp-data
  start_hookwire tp-load --data-dir "$data" --delivery off --delivery-allow-cidr 127.0.0.0/8 --log-level warn
  api POST /api/v1/app "{\"name\":\"$APP\",\"uid\":\"$APP\"}" >/dev/null
  local i
  for ((i = 0; i < ENDPOINTS; i++)); do
    api POST "/api/v1/app/$APP/endpoint" \
      "{\"url\":\"$NGINX_URL/ep/$i\",\"channels\":[\"$(printf 'c%03d' "$i")\"]}" >/dev/null
  done
  log "loading: wrk -c$CONNECTIONS -d$LOAD_DURATION of POST /api/v1/app/$APP/msg (delivery off)"
  DURATION=$LOAD_DURATION BENCH_CHANNELS=$ENDPOINTS run_wrk "$HW_URL" load "$HOOKWIRE_PID"
  stop_hookwire
  local total msgs
  total=$(sqlite3 "$data/hookwire.db" "SELECT count(*) FROM deliveries WHERE status = 1")
  msgs=$(sqlite3 "$data/hookwire.db" "SELECT count(*) FROM messages")
  log "loaded $msgs messages, $total pending deliveries ($(result load ok2xx) acknowledged)"
  [ "$total" -gt 0 ] || die "no pending deliveries were stored"

  # Restart with delivery on and sample the delivered counter until every delivery is recorded.
  local sink0 conn0 t_start
  read -r conn0 sink0 < <(nginx_counts)
  t_start=$(date +%s.%N)
  start_hookwire tp-drain --data-dir "$data" --delivery on --delivery-allow-cidr 127.0.0.0/8 --log-level warn
  cpu_begin drain "$HOOKWIRE_PID" $(nginx_pids)
  local perf_pid=""
  if [ "${PERF:-0}" = 1 ]; then
    perf record -q -F 999 ${PERF_CALLGRAPH:+--call-graph dwarf,16384} -p "$HOOKWIRE_PID" -o "$WORK/perf.data" -- sleep "${PERF_SECONDS:-5}" \
      >"$WORK/perf.log" 2>&1 &
    perf_pid=$!
    EXTRA_PIDS+=("$perf_pid")
  fi
  local strace_pid=""
  if [ "${STRACE:-0}" = 1 ]; then  # syscall counts of the drain (slows hookwire down: not for the rates)
    timeout -s INT 600 strace -c -f -p "$HOOKWIRE_PID" -o "$WORK/strace.txt" 2>/dev/null &
    strace_pid=$!
    EXTRA_PIDS+=("$strace_pid")
  fi
  # One node process follows the drain (drain_sampler.mjs): the sink's request count every SAMPLE_MS over
  # one keep-alive connection, then hookwire's /metrics until every delivery is recorded. No process per
  # sample, and no store-reading scrape per sample: the sampling must not compete with what it measures.
  local samples=$WORK/drain.samples
  SINK_STATUS_URL="$NGINX_URL/nginx-status" METRICS_URL="$HW_URL/metrics" TOKEN=$TOKEN TOTAL=$total SINK0=$sink0 \
    SAMPLE_MS=$SAMPLE_MS OUT="$samples" node "$HERE/drain_sampler.mjs" || log "the drain did not finish"
  cpu_end drain "sampler (node)" "$HOOKWIRE_PID" $(nginx_pids)
  [ -n "$perf_pid" ] && wait "$perf_pid" 2>/dev/null
  if [ -n "$strace_pid" ]; then kill -INT "$strace_pid" 2>/dev/null; wait "$strace_pid" 2>/dev/null || true; fi
  if [ -s "$samples.metrics" ]; then
    cp "$samples.metrics" "$WORK/drain-metrics.txt"
  else  # the drain did not finish: report where it stopped
    scrape >"$WORK/drain-metrics.txt" || die "scraping /metrics failed"
  fi
  local delivered
  delivered=$(metric "$WORK/drain-metrics.txt" 'delivery_attempts_total{outcome="delivered"}')
  local sink_reqs conn1 req1
  read -r conn1 req1 < <(nginx_counts)
  local status_reqs
  status_reqs=$(awk '$1 == "done" { print $6 }' "$samples")
  sink_reqs=$((req1 - sink0 - 1 - ${status_reqs:-0}))  # minus the sampler's status requests and this one
  local sink_conns=$((conn1 - conn0 - 2))  # minus the sampler's connection and this one
  stop_hookwire
  local left
  left=$(sqlite3 "$data/hookwire.db" "SELECT count(*) FROM deliveries WHERE status != 0")
  local attempts
  attempts=$(sqlite3 "$data/hookwire.db" "SELECT count(*) FROM attempts")
  log "ceiling again, after the drain"
  DURATION=$CEIL_DURATION run_wrk "$NGINX_URL" ceiling2 $(nginx_pids)
  local ceil_after ceil_rate
  ceil_after=$(per_sec "$(result ceiling2 ok2xx)" "$(result ceiling2 duration_us)")
  ceil_rate=$(((ceil_before + ceil_after) / 2))

  # Rates: steady (10 % -> 90 % of the total received by the sink, linear interpolation between samples) and
  # overall (process start -> last delivery recorded as delivered by hookwire, the sampler's "done" line).
  local rates
  rates=$(awk -v total="$total" -v t0="$t_start" '
    function cross(frac,   target, i) {
      target = frac * total
      for (i = 2; i <= n; i++) if (d[i] >= target) {
        if (d[i] == d[i - 1]) return t[i]
        return t[i - 1] + (t[i] - t[i - 1]) * (target - d[i - 1]) / (d[i] - d[i - 1])
      }
      return t[n]
    }
    $1 == "done" { tdone = $2; dd = $3; next }
    { n++; t[n] = $1; d[n] = $2 }
    END {
      t10 = cross(0.1); t90 = cross(0.9); if (tdone == "") { tdone = t[n]; dd = d[n] }
      printf "%.0f %.0f %.2f %.2f", 0.8 * total / (t90 - t10), dd / (tdone - t0), tdone - t0, t90 - t10
    }' "$samples")
  local steady overall drain_secs steady_secs
  read -r steady overall drain_secs steady_secs <<<"$rates"
  local retry exhausted
  retry=$(metric "$WORK/drain-metrics.txt" 'delivery_attempts_total{outcome="retry"}')
  exhausted=$(metric "$WORK/drain-metrics.txt" 'delivery_attempts_total{outcome="exhausted"}')
  local ticks_hw ticks_ng
  read -r ticks_hw ticks_ng < <(awk 'FNR == NR { b[$1] = $3; next }
      { u = $3 - b[$1]; if ($2 == "nginx") ng += u; else hw += u } END { print hw + 0, ng + 0 }' \
    "$WORK/drain.cpu0" "$WORK/drain.cpu1")
  local d_cpu0
  d_cpu0=$(head -n 1 "$samples" | cut -d' ' -f2)
  local us_per ng_us_per
  us_per=$(awk -v t="$ticks_hw" -v hz="$CLK_TCK" -v n=$((delivered - d_cpu0)) 'BEGIN { printf "%.0f", (n > 0 ? 1e6 * t / hz / n : 0) }')
  ng_us_per=$(awk -v t="$ticks_ng" -v hz="$CLK_TCK" -v n=$((delivered - d_cpu0)) 'BEGIN { printf "%.0f", (n > 0 ? 1e6 * t / hz / n : 0) }')
  local att_mean
  att_mean=$(awk '/^delivery_attempt_seconds_sum/ { s = $2 } /^delivery_attempt_seconds_count/ { c = $2 }
                 END { if (c > 0) printf "%.2f ms", 1000 * s / c }' "$WORK/drain-metrics.txt")
  local batch
  batch=$(awk '/^store_batch_size_sum/ { s = $2 } /^store_batch_size_count/ { c = $2 }
               END { if (c > 0) printf "%.1f writes/commit over %d commits", s / c, c }' "$WORK/drain-metrics.txt")

  say ""
  say "== bench/delivery throughput ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average at start $LOAD_AT_START)"
  say "sink: nginx return 200 ($NGINX_WORKERS workers); $ENDPOINTS endpoints of one app (one channel each, one delivery per message); attempts logged"
  say "ceiling (wrk -t$WRK_THREADS -c$CONNECTIONS -d$CEIL_DURATION, ${BODY_BYTES}-byte POSTs to the sink): $ceil_rate requests/s, the mean of $ceil_before before the load (p50 $(ms "$(result ceiling p50_us)"), p99 $(ms "$(result ceiling p99_us)")) and $ceil_after after the drain"
  say "loaded (delivery off, wrk -d$LOAD_DURATION): $msgs messages, $total pending deliveries"
  say "drain (restart, delivery on): $delivered delivered, $retry retries, $exhausted exhausted in ${drain_secs} s from process start"
  say "deliveries/s: steady (10 %..90 % of the total, ${steady_secs} s) $steady; overall $overall"
  say "ratio to the ceiling: steady $(ratio "$steady" "$ceil_rate"), overall $(ratio "$overall" "$ceil_rate") (steady to the ceiling before: $(ratio "$steady" "$ceil_before"), after: $(ratio "$steady" "$ceil_after"))"
  say "target >= 20000/s and >= 0.3 of the ceiling: $(awk -v r="$steady" -v c="$ceil_rate" 'BEGIN { print (r >= 20000 && r >= 0.3 * c) ? "met" : "NOT met" }') (steady rate)"
  say "sink check: nginx received $sink_reqs requests for $delivered deliveries recorded: $([ "$sink_reqs" -ge "$delivered" ] && echo ok || echo MISMATCH) over $sink_conns connections; attempts rows $attempts; deliveries not delivered after the drain: $left"
  say "hookwire CPU per delivery: $us_per us (nginx: $ng_us_per us); mean attempt duration (delivery_attempt_seconds) $att_mean; store: $batch"
  say "CPU during the drain (hookwire and nginx threads):"
  tee -a "$SUMMARY" <"$WORK/drain.cpushare"
  say "hookwire threads one by one during the drain (tid name, % of one core, CPU us per delivery; the dispatcher and the I/O threads share the name):"
  awk -v secs="$CPU_SECS" -v hz="$CLK_TCK" -v n=$((delivered - d_cpu0)) 'FNR == NR { b[$1] = $3; next }
      $2 != "nginx" { u = $3 - b[$1]; if (u > 0) printf "%.0f %s %s %.1f\n", 100 * u / hz / secs, $1, $2, (n > 0 ? 1e6 * u / hz / n : 0) }' \
    "$WORK/drain.cpu0" "$WORK/drain.cpu1" | sort -rn |
    awk '{ printf "    %-8s %-18s %4d%% %7.1f us/delivery\n", $2, $3, $1, $4 }' | tee -a "$SUMMARY"
  if [ "${PERF:-0}" = 1 ] && [ -s "$WORK/perf.data" ]; then
    local hot
    hot=$(awk -v secs="$CPU_SECS" 'FNR == NR { b[$1] = $3; next } $2 == "hookwire" { print $3 - b[$1], $1 }' \
      "$WORK/drain.cpu0" "$WORK/drain.cpu1" | sort -rn | awk 'NR == 1 { print $2 }')
    say "perf: top symbols of hookwire during ${PERF_SECONDS:-5} s of the drain (all threads):"
    perf report -i "$WORK/perf.data" --no-children --sort dso,sym -q >"$WORK/perf-all.txt" 2>/dev/null || true
    head -n 25 "$WORK/perf-all.txt" | cut -c1-160 | tee -a "$SUMMARY"
    say "perf: busiest unnamed thread (tid $hot, the dispatcher when it dominates):"
    perf report -i "$WORK/perf.data" --no-children --tid "$hot" --sort dso,sym -q >"$WORK/perf-hot.txt" \
      2>/dev/null || true
    head -n 25 "$WORK/perf-hot.txt" | cut -c1-160 | tee -a "$SUMMARY"
  fi
  if [ "${STRACE:-0}" = 1 ] && [ -s "$WORK/strace.txt" ]; then
    say "strace -c -f of hookwire over the whole drain ($delivered deliveries):"
    head -n 20 "$WORK/strace.txt" | tee -a "$SUMMARY"
  fi
  say "CPU during the ceiling run (before the load):"
  tee -a "$SUMMARY" <"$WORK/ceiling.cpushare"
  say "CPU while loading (delivery off): $(per_sec "$(result load ok2xx)" "$(result load duration_us)") msgs/s"
  tee -a "$SUMMARY" <"$WORK/load.cpushare"
  [ -s "$WORK/tp-drain.err" ] && { say "hookwire stderr during the drain (first 5 lines):"; head -n 5 "$WORK/tp-drain.err" | sed 's/^/  /' | tee -a "$SUMMARY"; }
  stop_pid "$NGINX_PID" QUIT 10
  NGINX_PID=""
}

# ==== (b) latency ==============================================================================================
latency() {
  local data=$WORK/lat-data
  start_hookwire lat --data-dir "$data" --delivery on --delivery-allow-cidr 127.0.0.0/8 --log-level warn
  log "latency: $RATE messages/s for ${LAT_SECONDS}s (+${WARMUP_SECONDS}s warm-up) against $HW_URL"
  cpu_begin latency "$HOOKWIRE_PID"
  HW_URL=$HW_URL TOKEN=$TOKEN RATE=$RATE SECONDS=$LAT_SECONDS WARMUP_SECONDS=$WARMUP_SECONDS BODY_BYTES=$BODY_BYTES \
    node "$HERE/latency.mjs" >"$WORK/latency.out" || { cat "$WORK/latency.out" >&2; die "latency.mjs failed"; }
  cpu_end latency "node (client and receiver)" "$HOOKWIRE_PID"
  scrape >"$WORK/lat-metrics.txt" || true
  stop_hookwire
  r() { sed -n "s/^RESULT $1=//p" "$WORK/latency.out"; }
  local att_mean
  att_mean=$(awk '/^delivery_attempt_seconds_sum/ { s = $2 } /^delivery_attempt_seconds_count/ { c = $2 }
                 END { if (c > 0) printf "%.2f ms", 1000 * s / c }' "$WORK/lat-metrics.txt")
  say ""
  say "== bench/delivery latency ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average at start $LOAD_AT_START)"
  say "client: $(r rate) msgs/s target, achieved $(r achieved_rate)/s over $(r send_seconds) s; $(r sent) sent, $(r acked) acknowledged, non-2xx $(r non2xx), errors $(r errors) $(r first_error)"
  say "2xx -> arrival over $(r measured) messages (after $(r warmup_seconds) s warm-up): p50 $(r p50_ms) ms, p90 $(r p90_ms) ms, p99 $(r p99_ms) ms, p99.9 $(r p999_ms) ms, max $(r max_ms) ms, mean $(r mean_ms) ms; over 10 ms: $(r over_10ms), over 100 ms: $(r over_100ms)"
  say "arrived before the 2xx was read (counted as 0): $(r arrived_before_2xx); lost: $(r lost); duplicates: $(r duplicates); pacing: $(r late_ticks) ticks late by > 1 tick, max $(r max_tick_late_ms) ms"
  say "mean attempt duration (delivery_attempt_seconds): $att_mean"
  say "target p50 <= 2 ms and p99 <= 10 ms, no loss: $(awk -v a="$(r p50_ms)" -v b="$(r p99_ms)" -v l="$(r lost)" 'BEGIN { print (a <= 2 && b <= 10 && l == 0) ? "met" : "NOT met" }')"
  say "CPU during the run:"
  tee -a "$SUMMARY" <"$WORK/latency.cpushare"
}

# ==== (c) one million pending retries ==========================================================================
retries() {
  local data=$WORK/rt-data
  start_nginx 1
  start_hookwire rt-setup --data-dir "$data" --delivery off --delivery-allow-cidr 127.0.0.0/8 --log-level warn
  local app_id ep_id
  app_id=$(api POST /api/v1/app "{\"name\":\"$APP\",\"uid\":\"$APP\"}" | sed 's/.*"id":"\([^"]*\)".*/\1/')
  ep_id=$(api POST "/api/v1/app/$APP/endpoint" "{\"url\":\"$NGINX_URL/retry\"}" | sed 's/.*"id":"\([^"]*\)".*/\1/')
  stop_hookwire
  local n=$((RETRIES + LEASED)) now pad
  now=$(now_ms)
  pad=$(head -c $((BODY_BYTES - 40)) /dev/zero | tr '\0' x)
  log "retries: inserting $RETRIES pending deliveries (attempts 1, next attempt in 30..90 min) and $LEASED leased ones, with 1 KB messages"
  local t0 t1
  t0=$(date +%s.%N)
  sqlite3 "$data/hookwire.db" >/dev/null <<EOF
PRAGMA synchronous = OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n)
INSERT INTO messages (app_id, id, event_id, event_type, payload, channels, created_at)
SELECT '$app_id', printf('msg_%027d', i), NULL, 'bench.event',
       '{"key":"' || printf('%010d', i) || '","data":"$pad"}', NULL, $now - 3600000 + i / 1000 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n)
INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at)
SELECT printf('dlv_%027d', i), '$app_id', printf('msg_%027d', i), '$ep_id',
       CASE WHEN i > $RETRIES THEN 3 ELSE 1 END, 1,
       CASE WHEN i > $RETRIES THEN $now + 600000 ELSE $now + 1800000 + (i * 7919) % 3600000 END,
       $now - 3600000 + i / 1000, $now - 60000 FROM n;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
EOF
  t1=$(date +%s.%N)
  local dbsize
  dbsize=$(du -sm "$data" | cut -f1)
  log "inserted in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s; data dir $dbsize MB"
  sync
  # Evict the data directory's files (only those) from the page cache, so that the start reads them from disk.
  local cache=warm
  python3 - "$data"/* <<'PY' 2>/dev/null && cache=cold
import os, sys
for f in sys.argv[1:]:
    fd = os.open(f, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
PY

  # Restart with delivery on; poll for the "listening" line and for /api/v1/health every ~5 ms.
  local start listening="" ready="" t
  start=$(date +%s%N)
  HOOKWIRE_ADMIN_TOKEN=$TOKEN "$HOOKWIRE_BIN" serve --listen 127.0.0.1:0 --data-dir "$data" --delivery on \
    --delivery-allow-cidr 127.0.0.0/8 --retry-schedule 1h --log-level info >"$WORK/rt.out" 2>"$WORK/rt.err" &
  HOOKWIRE_PID=$!
  HW_URL=""
  while [ -z "$ready" ]; do
    t=$(date +%s%N)
    (((t - start) / 1000000000 < 120)) || die "hookwire not ready after 120 s"
    kill -0 "$HOOKWIRE_PID" 2>/dev/null || { cat "$WORK/rt.err" >&2; die "hookwire exited at start"; }
    if [ -z "$HW_URL" ]; then
      HW_URL=$(sed -n 's|^hookwire: listening on \(http://[^ ]*\)$|\1|p' "$WORK/rt.out")
      [ -n "$HW_URL" ] && listening=$(((t - start) / 1000000))
    fi
    if [ -n "$HW_URL" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "$HW_URL/api/v1/health")" = 204 ]; then
      ready=$((($(date +%s%N) - start) / 1000000))
    fi
    [ -n "$ready" ] || sleep 0.005
  done
  local rss_ready hwm_ready
  rss_ready=$(rss_kb "$HOOKWIRE_PID" VmRSS)
  hwm_ready=$(rss_kb "$HOOKWIRE_PID" VmHWM)
  # The leased deliveries were released at start and are due: wait for them (up to 30 s).
  local delivered=0 i
  for ((i = 0; i < 300; i++)); do
    scrape >"$WORK/rt-m.txt"
    delivered=$(metric "$WORK/rt-m.txt" 'delivery_attempts_total{outcome="delivered"}')
    [ "$delivered" -ge "$LEASED" ] && break
    sleep 0.1
  done
  local t_scrape
  t_scrape=$(curl -sS -o "$WORK/rt-m.txt" -w '%{time_total}' -H "Authorization: Bearer $TOKEN" "$HW_URL/metrics")
  cpu_begin idle "$HOOKWIRE_PID"
  sleep "$IDLE_SECONDS"
  cpu_end idle "-" "$HOOKWIRE_PID"
  local rss_idle hwm_idle threads
  rss_idle=$(rss_kb "$HOOKWIRE_PID" VmRSS)
  hwm_idle=$(rss_kb "$HOOKWIRE_PID" VmHWM)
  threads=$(ls "/proc/$HOOKWIRE_PID/task" | wc -l)
  local pending sending due
  pending=$(metric "$WORK/rt-m.txt" 'delivery_queue_depth{state="pending"}')
  sending=$(metric "$WORK/rt-m.txt" 'delivery_queue_depth{state="sending"}')
  due=$(metric "$WORK/rt-m.txt" 'delivery_due')
  stop_hookwire
  local released
  released=$(sed -n 's/.*released \([0-9]*\) delivery leases.*/\1/p' "$WORK/rt.err" | head -n 1)
  local worst_rss
  worst_rss=$(awk -v a="$hwm_idle" -v b="$rss_idle" 'BEGIN { print (a > b ? a : b) }')
  say ""
  say "== bench/delivery retries ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average at start $LOAD_AT_START)"
  say "store: $RETRIES pending retries (attempts 1, due in 30..90 min) + $LEASED leased deliveries, $n 1 KB messages; data dir $dbsize MB; page cache $cache at start"
  say "restart to ready: 'listening' line after $listening ms, /api/v1/health 204 after $ready ms (process start = fork)"
  say "leases released at start: ${released:-?} (log); delivered after start: $delivered; queue then: pending $pending, sending $sending, due $due; a /metrics scrape took $(awk -v s="$t_scrape" 'BEGIN { printf "%.1f ms", s * 1000 }')"
  say "memory: VmRSS at ready $(mb "$rss_ready"), after ${IDLE_SECONDS} s idle $(mb "$rss_idle"); peak VmHWM $(mb "$hwm_idle") (at ready $(mb "$hwm_ready")); $threads threads"
  say "target <= 300 MB and <= 5 s: $(awk -v m="$worst_rss" -v r="$ready" 'BEGIN { print (m <= 300 * 1024 && r <= 5000) ? "met" : "NOT met" }')"
  say "CPU while idle with $RETRIES pending retries:"
  grep -v '^  -:' "$WORK/idle.cpushare" | tee -a "$SUMMARY"
  stop_pid "$NGINX_PID" QUIT 10
  NGINX_PID=""
}

case $MODE in
  throughput) throughput ;;
  latency) latency ;;
  retries) retries ;;
  all) throughput; latency; retries ;;
esac
echo
echo "== summary"
cat "$SUMMARY"
