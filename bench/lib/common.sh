# bench/lib/common.sh: shell pieces shared by the benchmark scripts (sourced, never run).
#
# Before sourcing, set BENCH_NAME (the prefix of log lines, e.g. "bench/ingest") and REPO (the repository root).
# After sourcing, call bench_init (work directory and clean-up on exit), bench_prereqs and bench_build_hookwire;
# bench_wrk_defaults sets the usual wrk settings (DURATION, CONNECTIONS, WRK_THREADS, BODY_BYTES) where unset.
#
# Shared state: WORK (temp directory), HOOKWIRE_PID and NGINX_PID (stopped on exit), EXTRA_PIDS (array, stopped
# on exit with SIGTERM), KEEP=1 keeps WORK.

log() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- prerequisites (installed only if missing) --------------------------------------------------------------
# bench_prereqs command:package[,package...] ... ; wrk, nginx, sqlite3 and curl are always checked, unless the
# first argument is --only (then only the given ones are).
bench_prereqs() {
  local need=() pair pkgs defaults=(wrk:wrk nginx:nginx-light sqlite3:sqlite3 curl:curl)
  if [ "${1:-}" = --only ]; then defaults=(); shift; fi
  for pair in "${defaults[@]}" "$@"; do
    IFS=, read -ra pkgs <<<"${pair#*:}"
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pkgs[@]}")
  done
  if ((${#need[@]})); then
    log "installing: ${need[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
}

# ---- wrk settings ----------------------------------------------------------------------------------------------
# DURATION (default 10s; a bare number means seconds), CONNECTIONS (64), WRK_THREADS (2), BODY_BYTES (1024).
bench_wrk_defaults() {
  DURATION=${DURATION:-10s}
  [[ $DURATION =~ ^[0-9]+$ ]] && DURATION="${DURATION}s"
  CONNECTIONS=${CONNECTIONS:-64}
  WRK_THREADS=${WRK_THREADS:-2}
  BODY_BYTES=${BODY_BYTES:-1024}
}

# ---- hookwire binary (Release) ------------------------------------------------------------------------------
# Sets HOOKWIRE_BIN: the given one, or a Release build in BUILD_DIR (default <repo>/build-bench), built with
# ccache (shared with the other builds of the tree) and at most 2 jobs.
bench_build_hookwire() {
  if [ -z "${HOOKWIRE_BIN:-}" ]; then
    BUILD_DIR=${BUILD_DIR:-$REPO/build-bench}
    export CCACHE_BASEDIR=$REPO CCACHE_NOHASHDIR=1
    local launcher=()
    command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    if [ ! -f "$BUILD_DIR/build.ninja" ]; then
      log "configuring a Release build in $BUILD_DIR"
      cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DHOOKWIRE_BUILD_TESTS=OFF -DHOOKWIRE_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
    fi
    grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD_DIR/CMakeCache.txt" ||
      die "$BUILD_DIR is not a Release build; remove it or set BUILD_DIR/HOOKWIRE_BIN"
    log "building hookwire (Release) in $BUILD_DIR (several minutes on 2 cores the first time)"
    ninja -C "$BUILD_DIR" -j"${BUILD_JOBS:-2}" hookwire >/dev/null
    HOOKWIRE_BIN=$BUILD_DIR/src/cli/hookwire
  fi
  [ -x "$HOOKWIRE_BIN" ] || die "no hookwire binary at $HOOKWIRE_BIN"
}

# ---- processes and clean-up ---------------------------------------------------------------------------------
HOOKWIRE_PID=""
NGINX_PID=""
EXTRA_PIDS=()

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
  local pid
  for pid in "${EXTRA_PIDS[@]}"; do stop_pid "$pid" TERM 10; done
  stop_pid "$HOOKWIRE_PID" TERM 30
  stop_pid "$NGINX_PID" QUIT 10
  if [ "${KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
bench_init() {  # temp-dir-prefix: creates WORK and installs the clean-up traps
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}

# ---- nginx (a private instance: generated config in WORK/nginx) ---------------------------------------------
# start_nginx workers [extra http-block lines]: sets NGINX_PID and NGINX_URL; `location /` answers
# `return 200`, `location = /nginx-status` is stub_status (its requests counter counts every request).
start_nginx() {
  local workers=$1 extra=${2:-} port
  NG=$WORK/nginx
  mkdir -p "$NG/logs" "$NG/tmp"
  NGINX_URL=""
  for _ in 1 2 3 4 5; do  # a few random ports, in case one is taken
    port=$((20000 + RANDOM % 20000))
    cat >"$NG/nginx.conf" <<EOF
worker_processes $workers;
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
  $extra
  server {
    listen 127.0.0.1:$port;
    location / { return 200; }
    location = /nginx-status { stub_status; }
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
}
nginx_pids() { echo $(pgrep -P "$NGINX_PID" || true) "$NGINX_PID"; }
# Requests nginx has handled so far (stub_status; this request included).
nginx_requests() { curl -fsS "$NGINX_URL/nginx-status" | awk 'NR == 3 { print $3 }'; }
# "accepted-connections requests" so far (stub_status; this request included).
nginx_counts() { curl -fsS "$NGINX_URL/nginx-status" | awk 'NR == 3 { print $1, $3 }'; }

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
proc_ticks() {  # pid... -> utime+stime of these processes (exited threads included) and of their reaped children
  local pid total=0 s rest
  for pid in "$@"; do
    s=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    rest=${s##*) }
    # shellcheck disable=SC2086
    set -- $rest  # $1 = state (field 3): utime $12, stime $13, cutime $14, cstime $15
    total=$((total + ${12} + ${13} + ${14} + ${15}))
  done
  echo "$total"
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

# cpu_begin label pid... / cpu_end label children-label pid...: CPU accounting over an interval. cpu_end
# writes WORK/label.cpushare: the machine's busy share, every thread of the given processes, the CPU of this
# shell's waited-for children during the interval (e.g. wrk) under children-label, kernel irq/softirq time and
# everything else on the machine; writes WORK/label.cpuproc, "machine-busy-% processes-%": the machine's busy
# share and the given processes' CPU (with their reaped children, e.g. commands they ran) as % of one core; and
# sets CPU_SECS (the interval in seconds). Call both from this shell, not a subshell (the children's CPU comes
# from `times`).
cpu_begin() {
  local label=$1; shift
  thread_ticks "$@" >"$WORK/$label.cpu0"
  proc_ticks "$@" >"$WORK/$label.proc0"
  cpu_busy_total >"$WORK/$label.stat0"
  times >"$WORK/$label.times0"  # in this shell (not a subshell): children's CPU so far
  date +%s.%N >"$WORK/$label.start"
}
cpu_end() {
  local label=$1 children=$2; shift 2
  local b0 t0 s0 b1 t1 s1 start end
  end=$(date +%s.%N)
  read -r b1 t1 s1 < <(cpu_busy_total)
  thread_ticks "$@" >"$WORK/$label.cpu1"
  local p1
  p1=$(proc_ticks "$@")
  times >"$WORK/$label.times1"
  read -r b0 t0 s0 <"$WORK/$label.stat0"
  start=$(cat "$WORK/$label.start")
  CPU_SECS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
  awk -v secs="$CPU_SECS" -v hz="$CLK_TCK" -v busy=$((b1 - b0)) -v total=$((t1 - t0)) \
    -v procs=$((p1 - $(cat "$WORK/$label.proc0"))) \
    'BEGIN { printf "%.0f %.0f\n", total ? 100 * busy / total : 0, 100 * procs / hz / secs }' >"$WORK/$label.cpuproc"
  {
    echo "  machine busy: $(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.0f%%", t ? 100 * b / t : 0 }') of $(nproc) cores over ${CPU_SECS}s"
    cpu_report "$WORK/$label.cpu0" "$WORK/$label.cpu1" "$CPU_SECS" "$label"
    # The children's CPU from the shell's `times`; the rest of the busy time belongs to other processes.
    local server_ticks
    server_ticks=$(awk 'FNR == NR { b[$1] = $3; next } { t += $3 - b[$1] } END { print t + 0 }' \
      "$WORK/$label.cpu0" "$WORK/$label.cpu1")
    awk -v secs="$CPU_SECS" -v hz="$CLK_TCK" -v busy=$((b1 - b0)) -v irq=$((s1 - s0)) -v server="$server_ticks" \
      -v children="$children" '
      function sec(v,  a) { split(v, a, "m"); sub("s", "", a[2]); return a[1] * 60 + a[2] }
      NR == 2 { c0 = sec($1) + sec($2) }
      NR == 4 { c1 = sec($1) + sec($2) }
      END {
        kids = c1 - c0
        printf "  %s: %.0f%% of one core\n", children, 100 * kids / secs
        printf "  kernel irq/softirq time (not charged to any process): %.0f%% of one core\n", 100 * irq / hz / secs
        printf "  everything else on the machine (not this benchmark): %.0f%% of one core\n",
          100 * ((busy - server - irq) / hz - kids) / secs
      }' "$WORK/$label.times0" "$WORK/$label.times1"
  } >"$WORK/$label.cpushare"
}

# ---- wrk with bench/ingest/post_message.lua -----------------------------------------------------------------
# run_wrk url label pid...: POSTs ~BODY_BYTES JSON messages to url/api/v1/app/$APP/msg (unique idempotency-key
# per request) with WRK_THREADS, CONNECTIONS and DURATION; leaves RESULT lines in WORK/label.wrk and the CPU
# shares during the run in WORK/label.cpushare and WORK/label.cpuproc (see cpu_end). WRK_SCRIPT overrides the
# Lua script and WRK_PATH the path (the script's other variables can be passed in the environment of the call).
run_wrk() {
  local url=$1 label=$2; shift 2
  cpu_begin "$label" "$@"
  BENCH_APP=${APP:-} BENCH_TOKEN=$TOKEN BENCH_BODY_BYTES=$BODY_BYTES \
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "${WRK_SCRIPT:-$REPO/bench/ingest/post_message.lua}" \
    "$url${WRK_PATH:-/api/v1/app/${APP:-}/msg}" >"$WORK/$label.wrk" 2>&1 || { cat "$WORK/$label.wrk" >&2; die "wrk failed"; }
  cpu_end "$label" wrk "$@"
}
result() { sed -n "s/^RESULT $2=//p" "$WORK/$1.wrk"; }
per_sec() { awk -v n="$1" -v us="$2" 'BEGIN { printf "%.0f", (us > 0 ? n * 1e6 / us : 0) }'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }

# ---- hookwire -----------------------------------------------------------------------------------------------
# start_hookwire label arg...: runs `hookwire serve --listen 127.0.0.1:0 arg...` with HOOKWIRE_ADMIN_TOKEN=$TOKEN,
# output in WORK/label.out and WORK/label.err; waits for its "listening on" line; sets HOOKWIRE_PID and HW_URL.
start_hookwire() {
  local label=$1; shift
  HOOKWIRE_ADMIN_TOKEN=$TOKEN "$HOOKWIRE_BIN" serve --listen 127.0.0.1:0 "$@" \
    >"$WORK/$label.out" 2>"$WORK/$label.err" &
  HOOKWIRE_PID=$!
  HW_URL=""
  for _ in $(seq 1 300); do  # up to 30 s
    HW_URL=$(sed -n 's|^hookwire: listening on \(http://[^ ]*\)$|\1|p' "$WORK/$label.out")
    [ -n "$HW_URL" ] && break
    kill -0 "$HOOKWIRE_PID" 2>/dev/null || { cat "$WORK/$label.err" >&2; die "hookwire exited at start"; }
    sleep 0.1
  done
  [ -n "$HW_URL" ] || die "hookwire did not report its port within 30 s"
}
# api method path [json]: calls the API of HW_URL with the admin token; prints the body; fails unless 2xx.
api() {
  local method=$1 path=$2 data=${3:-} code
  local args=(-sS -o "$WORK/api.body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $TOKEN")
  [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data "$data")
  code=$(curl "${args[@]}" "$HW_URL$path") || die "$method $path: curl failed"
  [[ $code == 2* ]] || { cat "$WORK/api.body" >&2; die "$method $path answered $code"; }
  cat "$WORK/api.body"
}
