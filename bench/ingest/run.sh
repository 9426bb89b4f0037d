#!/usr/bin/env bash
# bench/ingest: acknowledged-message throughput of `hookwire serve` at full durability, next to the machine's
# HTTP ceiling (nginx answering `return 200`) measured in the same run with the same load generator and script.
# A benchmark, not a test: never part of the test command. See bench/ingest/README.md.
#
# Environment:
#   DURATION      wrk duration per server (default 10s; a bare number means seconds)
#   CONNECTIONS   keep-alive connections (default 64)
#   WRK_THREADS   wrk threads (default 2)
#   BODY_BYTES    request body size (default 1024)
#   NGINX_WORKERS nginx worker_processes (default auto = one per core: nginx's fastest on 2 cores)
#   HOOKWIRE_BIN  use this hookwire binary instead of building one
#   BUILD_DIR     where to build hookwire in Release if HOOKWIRE_BIN is unset (default <repo>/build-bench)
#   DURABILITY    full (default, the measured figure) or normal (diagnosis only: no fsync per commit)
#   HOOKWIRE_THREADS  passed to `hookwire serve --threads` (default 0: one more than the cores)
#   APPS          applications the messages go to, in turn (default 1: all to `bench`; N > 1: `bench-0` ..
#                 `bench-<N-1>`, created first; each application's index entries then land on their own pages)
#   SKIP_NGINX=1  measure hookwire only; KEEP=1 keep the temp directory (data dir, logs)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
DURATION=${DURATION:-10s}
[[ $DURATION =~ ^[0-9]+$ ]] && DURATION="${DURATION}s"
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
BODY_BYTES=${BODY_BYTES:-1024}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
HOOKWIRE_THREADS=${HOOKWIRE_THREADS:-0}
DURABILITY=${DURABILITY:-full}
TOKEN=t
APP=bench
APPS=${APPS:-1}

BENCH_NAME=bench/ingest
# shellcheck source=../lib/common.sh
. "$REPO/bench/lib/common.sh"
bench_prereqs
bench_build_hookwire
bench_init hookwire-bench-ingest

log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION, body $BODY_BYTES bytes"

# ---- the disk's sync-write latency (a group commit cannot be faster than one of these) -----------------------
mkdir -p "$WORK/data"
fsync_ms=$(dd if=/dev/zero of="$WORK/data/sync-probe" bs=4k count=200 oflag=dsync 2>&1 |
  awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s," || $i == "s") { printf "%.2f", $(i - 1) * 1000 / 200 } }')
rm -f "$WORK/data/sync-probe"

# ---- hookwire -----------------------------------------------------------------------------------------------
start_hookwire hookwire --data-dir "$WORK/data" --durability "$DURABILITY" --threads "$HOOKWIRE_THREADS" \
  --log-level warn
log "hookwire $HOOKWIRE_BIN on $HW_URL (pid $HOOKWIRE_PID, data $WORK/data)"

create_app() {  # uid
  local code
  code=$(curl -sS -o "$WORK/app.json" -w '%{http_code}' -X POST "$HW_URL/api/v1/app" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data "{\"name\":\"$1\",\"uid\":\"$1\"}")
  [ "$code" = 201 ] || { cat "$WORK/app.json" >&2; die "creating the app $1 answered $code, expected 201"; }
}
if ((APPS > 1)); then
  log "creating $APPS applications"
  for ((i = 0; i < APPS; i++)); do create_app "$APP-$i"; done
  export BENCH_APPS=$APPS
else
  create_app "$APP"
fi

log "hookwire: ${DURATION} of POST /api/v1/app/$APP$( ((APPS > 1)) && echo "-{0..$((APPS - 1))}")/msg"
run_wrk "$HW_URL" hookwire "$HOOKWIRE_PID"
curl -sS -H "Authorization: Bearer $TOKEN" "$HW_URL/metrics" >"$WORK/metrics.txt" 2>/dev/null || true

# Stop hookwire cleanly, then count what is on disk: every acknowledged message must be there.
stop_pid "$HOOKWIRE_PID" TERM 30
HOOKWIRE_PID=""
stored=$(sqlite3 "$WORK/data/hookwire.db" "SELECT count(*) FROM messages")

# ---- nginx (the machine's HTTP ceiling under the same generator) --------------------------------------------
if [ "${SKIP_NGINX:-0}" != 1 ]; then
  start_nginx "$NGINX_WORKERS"
  log "nginx $(nginx -v 2>&1 | sed 's|.*/||') on $NGINX_URL, worker_processes $NGINX_WORKERS"
  log "nginx: ${DURATION} of the same requests, answered by 'return 200'"
  run_wrk "$NGINX_URL" nginx $(nginx_pids)
  stop_pid "$NGINX_PID" QUIT 10
  NGINX_PID=""
fi

# ---- summary ------------------------------------------------------------------------------------------------
hw_ok=$(result hookwire ok2xx)
hw_us=$(result hookwire duration_us)
hw_rate=$(per_sec "$hw_ok" "$hw_us")
hw_non2xx=$(result hookwire non2xx)
hw_errs="connect $(result hookwire errors_connect), read $(result hookwire errors_read), write $(result hookwire errors_write), timeout $(result hookwire errors_timeout)"
batch=$(awk '/^store_batch_size_sum/ { s = $2 } /^store_batch_size_count/ { c = $2 }
             END { if (c > 0) printf "%.1f writes/commit over %d commits", s / c, c }' "$WORK/metrics.txt")
commit=$(awk '/^store_commit_seconds_sum/ { s = $2 } /^store_commit_seconds_count/ { c = $2 }
             END { if (c > 0) printf "%.2f ms", 1000 * s / c }' "$WORK/metrics.txt")

echo
echo "== bench/ingest ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, durability $DURABILITY, $APPS application(s), wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION, ${BODY_BYTES}-byte bodies, a random idempotency-key per request)"
printf '%-9s %12s %10s %10s %10s %10s\n' "" "2xx/s" "p50" "p90" "p99" "max"
printf '%-9s %12s %10s %10s %10s %10s\n' hookwire "$hw_rate" "$(ms "$(result hookwire p50_us)")" \
  "$(ms "$(result hookwire p90_us)")" "$(ms "$(result hookwire p99_us)")" "$(ms "$(result hookwire max_us)")"
if [ "${SKIP_NGINX:-0}" != 1 ]; then
  ng_rate=$(per_sec "$(result nginx ok2xx)" "$(result nginx duration_us)")
  printf '%-9s %12s %10s %10s %10s %10s\n' nginx "$ng_rate" "$(ms "$(result nginx p50_us)")" \
    "$(ms "$(result nginx p90_us)")" "$(ms "$(result nginx p99_us)")" "$(ms "$(result nginx max_us)")"
  echo "ratio hookwire/nginx: $(awk -v a="$hw_rate" -v b="$ng_rate" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')" \
    "(nginx non-2xx $(result nginx non2xx))"
fi
hw_non2xx_detail=""
[ "$hw_non2xx" = 0 ] || hw_non2xx_detail=" (statuses $(result hookwire non2xx_statuses); first: $(result hookwire first_error))"
echo "hookwire: $hw_ok acknowledged (2xx) in $(awk -v us="$hw_us" 'BEGIN { printf "%.2f", us / 1e6 }') s;" \
  "non-2xx $hw_non2xx$hw_non2xx_detail"
echo "hookwire: socket errors: $hw_errs"
server_mean=$(awk -F'[ ]' '/^http_request_duration_seconds_sum\{route="\/api\/v1\/app\/\{app_id\}\/msg"\}/ { s = $2 }
             /^http_request_duration_seconds_count\{route="\/api\/v1\/app\/\{app_id\}\/msg"\}/ { c = $2 }
             END { if (c > 0) printf "%.2f ms over %d requests", 1000 * s / c, c }' "$WORK/metrics.txt")
[ -n "$batch" ] && echo "hookwire: group commit: $batch, $commit per commit (store_commit_seconds mean)"
[ -n "$server_mean" ] && echo "hookwire: server-side mean request duration (header read to response): $server_mean"
echo "disk: ${fsync_ms:-?} ms per 4 KiB O_DSYNC append (dd, 200 writes, just before the run)"
echo "durability check: $stored messages stored >= $hw_ok acknowledged: $([ "$stored" -ge "$hw_ok" ] && echo yes || echo NO)"
echo "target (2 cores): >= 25000 msgs/s and p99 < 20 ms: $(awk -v r="$hw_rate" -v p="$(result hookwire p99_us)" \
  'BEGIN { print ((r >= 25000 && p < 20000) ? "met" : "NOT met") }')"
echo "CPU during the runs:"
cat "$WORK/hookwire.cpushare"
[ "${SKIP_NGINX:-0}" != 1 ] && cat "$WORK/nginx.cpushare"
if [ -s "$WORK/hookwire.err" ]; then
  echo "hookwire stderr ($(wc -l <"$WORK/hookwire.err") lines, first 10):"
  head -n 10 "$WORK/hookwire.err" | sed 's/^/  /'
fi
[ "$stored" -ge "$hw_ok" ] || die "acknowledged messages missing from the store: $stored stored < $hw_ok acknowledged"
