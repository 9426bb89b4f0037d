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
#   NGINX_WORKERS nginx worker_processes (default auto = one per core, like hookwire's I/O threads)
#   HOOKWIRE_BIN  use this hookwire binary instead of building one
#   BUILD_DIR     where to build hookwire in Release if HOOKWIRE_BIN is unset (default <repo>/build-bench)
#   DURABILITY    full (default, the measured figure) or normal (diagnosis only: no fsync per commit)
#   HOOKWIRE_THREADS  passed to `hookwire serve --threads` (default 0: one per core)
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

log() { printf 'bench/ingest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- prerequisites (installed only if missing) --------------------------------------------------------------
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
command -v curl >/dev/null 2>&1 || need+=(curl)
if ((${#need[@]})); then
  log "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# ---- hookwire binary (Release) ------------------------------------------------------------------------------
if [ -z "${HOOKWIRE_BIN:-}" ]; then
  BUILD_DIR=${BUILD_DIR:-$REPO/build-bench}
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    log "configuring a Release build in $BUILD_DIR"
    cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DHOOKWIRE_BUILD_TESTS=OFF -DHOOKWIRE_BUILD_BENCH=OFF >/dev/null
  fi
  grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD_DIR/CMakeCache.txt" ||
    die "$BUILD_DIR is not a Release build; remove it or set BUILD_DIR/HOOKWIRE_BIN"
  log "building hookwire (Release) in $BUILD_DIR (several minutes on 2 cores the first time)"
  ninja -C "$BUILD_DIR" hookwire >/dev/null
  HOOKWIRE_BIN=$BUILD_DIR/src/cli/hookwire
fi
[ -x "$HOOKWIRE_BIN" ] || die "no hookwire binary at $HOOKWIRE_BIN"

# ---- processes and clean-up ---------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/hookwire-bench-ingest.XXXXXX)
HOOKWIRE_PID=""
NGINX_PID=""

stop_pid() {  # pid signal seconds: signal, wait up to N seconds, then SIGKILL
  local pid=$1 sig=$2 secs=$3 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop after SIG$sig in ${secs}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$HOOKWIRE_PID" TERM 30
  stop_pid "$NGINX_PID" QUIT 10
  if [ "${KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- CPU accounting from /proc (perf is not needed) ---------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
cpu_busy_total() {  # "busy total irq+softirq" jiffies of the whole machine
  local _ user nice sys idle iowait irq softirq steal rest
  read -r _ user nice sys idle iowait irq softirq steal rest </proc/stat
  echo "$((user + nice + sys + irq + softirq + steal)) $((user + nice + sys + idle + iowait + irq + softirq + steal))" \
    "$((irq + softirq))"
}
thread_ticks() {  # pid... -> lines "tid name ticks" (utime+stime) for every thread of these processes
  local pid t s name rest
  for pid in "$@"; do
    for t in /proc/"$pid"/task/*; do
      s=$(cat "$t/stat" 2>/dev/null) || continue
      name=${s#*(}; name=${name%)*}; rest=${s##*) }
      # shellcheck disable=SC2086
      set -- $rest  # $1 is field 3 (state): utime is field 14 -> $12, stime field 15 -> $13
      echo "${t##*/} ${name// /_} $((${12} + ${13}))"
    done
  done
}
# Prints per-thread-name CPU use between two thread_ticks snapshots, as % of one core over the interval.
cpu_report() {  # before_file after_file seconds label
  awk -v secs="$3" -v hz="$CLK_TCK" -v label="$4" '
    FNR == NR { before[$1] = $3; next }
    { used = $3 - before[$1]; by_name[$2] += used; n[$2]++; total += used }
    END { printf "  %s process(es): %.0f%% of one core in total\n", label, 100 * total / hz / secs }' "$1" "$2"
  awk -v secs="$3" -v hz="$CLK_TCK" '
    FNR == NR { before[$1] = $3; next }
    { used = $3 - before[$1]; by_name[$2] += used; n[$2]++ }
    END { for (k in by_name) if (by_name[k] > 0) printf "%.0f %s %d\n", 100 * by_name[k] / hz / secs, k, n[k] }' \
    "$1" "$2" | sort -rn | awk '{ printf "    %-18s x%-3d %4d%%\n", $2, $3, $1 }'
}

# ---- one wrk run --------------------------------------------------------------------------------------------
# run_wrk url label pid...: runs wrk with the message script, leaves RESULT lines in $WORK/label.wrk and prints
# the machine and per-process CPU shares during the run.
run_wrk() {
  local url=$1 label=$2; shift 2
  local b0 t0 s0 b1 t1 s1 start end
  thread_ticks "$@" >"$WORK/$label.cpu0"
  read -r b0 t0 s0 < <(cpu_busy_total)
  times >"$WORK/$label.times0"  # in this shell (not a subshell): children's CPU so far
  start=$(date +%s.%N)
  BENCH_APP=$APP BENCH_TOKEN=$TOKEN BENCH_BODY_BYTES=$BODY_BYTES BENCH_RUN_ID="$label-$$-$(date +%s)" \
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$HERE/post_message.lua" \
    "$url/api/v1/app/$APP/msg" >"$WORK/$label.wrk" 2>&1 || { cat "$WORK/$label.wrk" >&2; die "wrk failed"; }
  end=$(date +%s.%N)
  read -r b1 t1 s1 < <(cpu_busy_total)
  thread_ticks "$@" >"$WORK/$label.cpu1"
  times >"$WORK/$label.times1"
  local secs
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
  {
    echo "  machine busy: $(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.0f%%", t ? 100 * b / t : 0 }') of $(nproc) cores over ${secs}s"
    cpu_report "$WORK/$label.cpu0" "$WORK/$label.cpu1" "$secs" "$label"
    # wrk's CPU from the shell's children times; the rest of the busy time belongs to other processes.
    local server_ticks
    server_ticks=$(awk 'FNR == NR { b[$1] = $3; next } { t += $3 - b[$1] } END { print t + 0 }' \
      "$WORK/$label.cpu0" "$WORK/$label.cpu1")
    awk -v secs="$secs" -v hz="$CLK_TCK" -v busy=$((b1 - b0)) -v irq=$((s1 - s0)) -v server="$server_ticks" '
      function sec(v,  a) { split(v, a, "m"); sub("s", "", a[2]); return a[1] * 60 + a[2] }
      NR == 2 { c0 = sec($1) + sec($2) }
      NR == 4 { c1 = sec($1) + sec($2) }
      END {
        wrk = c1 - c0
        printf "  wrk: %.0f%% of one core\n", 100 * wrk / secs
        printf "  kernel irq/softirq time (not charged to any process): %.0f%% of one core\n", 100 * irq / hz / secs
        printf "  everything else on the machine (not this benchmark): %.0f%% of one core\n",
          100 * ((busy - server - irq) / hz - wrk) / secs
      }' "$WORK/$label.times0" "$WORK/$label.times1"
  } >"$WORK/$label.cpushare"
}
result() { sed -n "s/^RESULT $2=//p" "$WORK/$1.wrk"; }
per_sec() { awk -v n="$1" -v us="$2" 'BEGIN { printf "%.0f", (us > 0 ? n * 1e6 / us : 0) }'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }

log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION, body $BODY_BYTES bytes"

# ---- the disk's sync-write latency (a group commit cannot be faster than one of these) -----------------------
mkdir -p "$WORK/data"
fsync_ms=$(dd if=/dev/zero of="$WORK/data/sync-probe" bs=4k count=200 oflag=dsync 2>&1 |
  awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s," || $i == "s") { printf "%.2f", $(i - 1) * 1000 / 200 } }')
rm -f "$WORK/data/sync-probe"

# ---- hookwire -----------------------------------------------------------------------------------------------
HOOKWIRE_ADMIN_TOKEN=$TOKEN "$HOOKWIRE_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" \
  --durability "$DURABILITY" --threads "$HOOKWIRE_THREADS" --log-level warn \
  >"$WORK/hookwire.out" 2>"$WORK/hookwire.err" &
HOOKWIRE_PID=$!
HW_URL=""
for _ in $(seq 1 300); do  # up to 30 s
  HW_URL=$(sed -n 's|^hookwire: listening on \(http://[^ ]*\)$|\1|p' "$WORK/hookwire.out")
  [ -n "$HW_URL" ] && break
  kill -0 "$HOOKWIRE_PID" 2>/dev/null || { cat "$WORK/hookwire.err" >&2; die "hookwire exited at start"; }
  sleep 0.1
done
[ -n "$HW_URL" ] || die "hookwire did not report its port within 30 s"
log "hookwire $HOOKWIRE_BIN on $HW_URL (pid $HOOKWIRE_PID, data $WORK/data)"

code=$(curl -sS -o "$WORK/app.json" -w '%{http_code}' -X POST "$HW_URL/api/v1/app" \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data "{\"name\":\"$APP\",\"uid\":\"$APP\"}")
[ "$code" = 201 ] || { cat "$WORK/app.json" >&2; die "creating the app answered $code, expected 201"; }

log "hookwire: ${DURATION} of POST /api/v1/app/$APP/msg"
run_wrk "$HW_URL" hookwire "$HOOKWIRE_PID"
curl -sS -H "Authorization: Bearer $TOKEN" "$HW_URL/metrics" >"$WORK/metrics.txt" 2>/dev/null || true

# Stop hookwire cleanly, then count what is on disk: every acknowledged message must be there.
stop_pid "$HOOKWIRE_PID" TERM 30
HOOKWIRE_PID=""
stored=$(sqlite3 "$WORK/data/hookwire.db" "SELECT count(*) FROM messages")

# ---- nginx (the machine's HTTP ceiling under the same generator) --------------------------------------------
if [ "${SKIP_NGINX:-0}" != 1 ]; then
  NG=$WORK/nginx
  mkdir -p "$NG/logs" "$NG/tmp"
  NGINX_URL=""
  for _ in 1 2 3 4 5; do  # a few random ports, in case one is taken
    port=$((20000 + RANDOM % 20000))
    cat >"$NG/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
daemon off;
pid $NG/nginx.pid;
error_log $NG/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_timeout 75s;
  keepalive_requests 100000000;
  client_body_temp_path $NG/tmp/body;
  proxy_temp_path $NG/tmp/proxy;
  fastcgi_temp_path $NG/tmp/fastcgi;
  uwsgi_temp_path $NG/tmp/uwsgi;
  scgi_temp_path $NG/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    location / { return 200; }
  }
}
EOF
    nginx -e "$NG/logs/error.log" -p "$NG" -c "$NG/nginx.conf" >"$NG/logs/stdout" 2>&1 &
    NGINX_PID=$!
    for _ in $(seq 1 50); do
      curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && { NGINX_URL="http://127.0.0.1:$port"; break; }
      kill -0 "$NGINX_PID" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$NGINX_URL" ] && break
    stop_pid "$NGINX_PID" QUIT 5
    NGINX_PID=""
  done
  [ -n "$NGINX_URL" ] || { cat "$NG/logs/error.log" >&2 || true; die "nginx did not start"; }
  log "nginx $(nginx -v 2>&1 | sed 's|.*/||') on $NGINX_URL, worker_processes $NGINX_WORKERS"
  log "nginx: ${DURATION} of the same requests, answered by 'return 200'"
  run_wrk "$NGINX_URL" nginx $(pgrep -P "$NGINX_PID" || true) "$NGINX_PID"
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
echo "== bench/ingest ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, durability $DURABILITY, wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION, ${BODY_BYTES}-byte bodies, unique idempotency-key per request)"
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
