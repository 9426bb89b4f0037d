#!/usr/bin/env bash
# bench/inbound: GitHub-style signed webhooks received per second, in one run, by
#   1. hookwire   POST /in/{source}: verify X-Hub-Signature-256, deduplicate on X-GitHub-Delivery, store the
#                 event durably (--durability full: fsynced before the 2xx);
#   2. webhook    Debian's `webhook` program (adnanh/webhook) with a payload-hmac-sha256 trigger rule;
#   3. express    an Express receiver doing the same HMAC check (express.raw + crypto.timingSafeEqual).
# Same load generator, same script, byte-identical requests. A benchmark, not a test: never part of the test
# command. See bench/inbound/README.md.
#
# Environment:
#   DURATION      wrk duration per server (default 10s; a bare number means seconds)
#   CONNECTIONS   keep-alive connections (default 64)
#   WRK_THREADS   wrk threads (default 2)
#   BODY_BYTES    request body size (default 1024)
#   HOOKWIRE_BIN  use this hookwire binary instead of building one (build it in Release)
#   BUILD_DIR     where to build hookwire in Release if HOOKWIRE_BIN is unset (default <repo>/build-bench)
#   DURABILITY    full (default, the measured figure) or normal (diagnosis only: no fsync per commit)
#   HOOKWIRE_THREADS  passed to `hookwire serve --threads` (default 0: one per core)
#   ONLY          run only these servers (space-separated subset of "hookwire webhook express")
#   KEEP=1        keep the temp directory (data dir, logs, raw wrk output)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
DURATION=${DURATION:-10s}
[[ $DURATION =~ ^[0-9]+$ ]] && DURATION="${DURATION}s"
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
BODY_BYTES=${BODY_BYTES:-1024}
ONLY=${ONLY:-hookwire webhook express}
HOOKWIRE_THREADS=${HOOKWIRE_THREADS:-0}
DURABILITY=${DURABILITY:-full}
TOKEN=t
SECRET="bench-secret-$(date +%s)"

log() { printf 'bench/inbound: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
wants() { [[ " $ONLY " == *" $1 "* ]]; }

# ---- prerequisites (installed only if missing) --------------------------------------------------------------
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v webhook >/dev/null 2>&1 || need+=(webhook)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
if ((${#need[@]})); then
  log "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if wants express && [ ! -d "$HERE/node_modules/express" ]; then
  log "installing express (bench-local, from bench/inbound/package-lock.json)"
  npm ci --prefix "$HERE" --no-audit --no-fund >/dev/null
fi

# ---- hookwire binary (Release) ------------------------------------------------------------------------------
if wants hookwire && [ -z "${HOOKWIRE_BIN:-}" ]; then
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

# ---- processes and clean-up ---------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/hookwire-bench-inbound.XXXXXX)
PIDS=()
stop_pid() {  # pid signal seconds
  local pid=$1 sig=$2 secs=$3 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid" TERM 30; done
  if [ "${KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits for "listening on http://..." (hookwire, express) in a log file; prints the URL.
wait_url() {  # logfile pid
  local url="" _
  for _ in $(seq 1 300); do
    url=$(grep -o 'listening on http://[0-9.:]*' "$1" 2>/dev/null | head -1 | sed 's/listening on //') || true
    [ -n "$url" ] && { echo "$url"; return 0; }
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# ---- CPU accounting from /proc ------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
cpu_busy_total() {  # "busy total" jiffies of the whole machine
  local _ user nice sys idle iowait irq softirq steal rest
  read -r _ user nice sys idle iowait irq softirq steal rest </proc/stat
  echo "$((user + nice + sys + irq + softirq + steal)) $((user + nice + sys + idle + iowait + irq + softirq + steal))"
}
proc_ticks() {  # pid... -> utime+stime of these processes and their reaped children
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

# ---- the request ------------------------------------------------------------------------------------------
BODY_FILE=$WORK/body.json
node -e '
  const n = Number(process.argv[1]);
  const head = JSON.stringify({ ref: "refs/heads/main", before: "0".repeat(40), after: "f".repeat(40),
    repository: { id: 1296269, full_name: "octocat/Hello-World" }, pusher: { name: "octocat" }, padding: "" });
  process.stdout.write(head.replace("\"padding\":\"\"", "\"padding\":\"" + "x".repeat(Math.max(0, n - head.length)) + "\""));
' "$BODY_BYTES" >"$BODY_FILE"
SIGNATURE="sha256=$(openssl dgst -sha256 -hmac "$SECRET" <"$BODY_FILE" | awk '{print $NF}')"

run_wrk() {  # label url path pid...
  local label=$1 url=$2 path=$3; shift 3
  local b0 t0 b1 t1 p0 p1 start end
  read -r b0 t0 < <(cpu_busy_total)
  p0=$(proc_ticks "$@")
  start=$(date +%s.%N)
  BENCH_PATH=$path BENCH_BODY_FILE=$BODY_FILE BENCH_SIGNATURE=$SIGNATURE BENCH_RUN_ID="$label-$$" \
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$HERE/post_github.lua" "$url$path" \
    >"$WORK/$label.wrk" 2>&1 || { cat "$WORK/$label.wrk" >&2; die "wrk failed against $label"; }
  end=$(date +%s.%N)
  read -r b1 t1 < <(cpu_busy_total)
  p1=$(proc_ticks "$@")
  awk -v secs="$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" -v hz="$CLK_TCK" \
    -v busy=$((b1 - b0)) -v total=$((t1 - t0)) -v server=$((p1 - p0)) -v cores="$(nproc)" \
    'BEGIN { printf "machine %.0f%% busy of %d cores; server %.0f%% of one core\n",
             total ? 100 * busy / total : 0, cores, 100 * server / hz / secs }' >"$WORK/$label.cpu"
}
result() { sed -n "s/^RESULT $2=//p" "$WORK/$1.wrk"; }
per_sec() { awk -v n="$1" -v us="$2" 'BEGIN { printf "%.0f", (us > 0 ? n * 1e6 / us : 0) }'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }

log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION, body $(wc -c <"$BODY_FILE") bytes"

# ---- 1. hookwire --------------------------------------------------------------------------------------------
stored=""
if wants hookwire; then
  [ -x "$HOOKWIRE_BIN" ] || die "no hookwire binary at $HOOKWIRE_BIN"
  mkdir -p "$WORK/data"
  HOOKWIRE_ADMIN_TOKEN=$TOKEN "$HOOKWIRE_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" \
    --durability "$DURABILITY" --threads "$HOOKWIRE_THREADS" --log-level warn >"$WORK/hookwire.out" 2>"$WORK/hookwire.err" &
  HW_PID=$!
  PIDS+=("$HW_PID")
  HW_URL=$(wait_url "$WORK/hookwire.out" "$HW_PID") || { cat "$WORK/hookwire.err" >&2; die "hookwire did not start"; }
  # pull: true, no destinations: what is measured is receiving (verify, dedup, durable store, answer).
  code=$(curl -sS -o "$WORK/source.json" -w '%{http_code}' -X POST "$HW_URL/api/v1/source" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data "{\"uid\":\"github\",\"verifier\":\"github\",\"secrets\":[\"$SECRET\"],\"pull\":true}")
  [ "$code" = 201 ] || { cat "$WORK/source.json" >&2; die "creating the source answered $code"; }
  log "hookwire $HOOKWIRE_BIN on $HW_URL: ${DURATION} of POST /in/github"
  run_wrk hookwire "$HW_URL" /in/github "$HW_PID"
  curl -sS "$HW_URL/metrics" >"$WORK/metrics.txt" || true
  stop_pid "$HW_PID" TERM 30
  stored=$(sqlite3 "$WORK/data/hookwire.db" "SELECT count(*) FROM messages")
fi

# ---- 2. Debian's webhook ------------------------------------------------------------------------------------
if wants webhook; then
  cat >"$WORK/hooks.json" <<EOF
[{"id": "github", "execute-command": "/bin/true", "response-message": "ok",
  "trigger-rule-mismatch-http-response-code": 401,
  "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": "$SECRET",
                             "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}}}]
EOF
  WH_URL=""
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 20000))
    webhook -hooks "$WORK/hooks.json" -ip 127.0.0.1 -port "$port" >"$WORK/webhook.log" 2>&1 &
    WH_PID=$!
    for _ in $(seq 1 50); do
      curl -fsS -o /dev/null -X POST "http://127.0.0.1:$port/hooks/github" -H "X-Hub-Signature-256: $SIGNATURE" \
        --data-binary "@$BODY_FILE" 2>/dev/null && { WH_URL="http://127.0.0.1:$port"; break; }
      kill -0 "$WH_PID" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$WH_URL" ] && break
    stop_pid "$WH_PID" TERM 5
  done
  [ -n "$WH_URL" ] || { cat "$WORK/webhook.log" >&2; die "webhook did not start"; }
  PIDS+=("$WH_PID")
  log "webhook $(webhook -version | awk '{print $NF}') on $WH_URL: ${DURATION} of POST /hooks/github"
  run_wrk webhook "$WH_URL" /hooks/github "$WH_PID"
  stop_pid "$WH_PID" TERM 10
fi

# ---- 3. Express ---------------------------------------------------------------------------------------------
if wants express; then
  SECRET=$SECRET node "$HERE/express_receiver.mjs" >"$WORK/express.out" 2>"$WORK/express.err" &
  EX_PID=$!
  PIDS+=("$EX_PID")
  EX_URL=$(wait_url "$WORK/express.out" "$EX_PID") || { cat "$WORK/express.err" >&2; die "express did not start"; }
  log "express $(node -p 'require(process.argv[1]).version' "$HERE/node_modules/express/package.json") (node $(node -v)) on $EX_URL: ${DURATION} of POST /github"
  run_wrk express "$EX_URL" /github "$EX_PID"
  stop_pid "$EX_PID" TERM 10
fi

# ---- summary ------------------------------------------------------------------------------------------------
echo
echo "== bench/inbound ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, hookwire durability $DURABILITY, load average before $(cut -d' ' -f1-3 /proc/loadavg), wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION, $(wc -c <"$BODY_FILE")-byte GitHub-signed bodies)"
printf '%-9s %10s %10s %10s %10s %9s %7s  %s\n' "" "2xx/s" "p50" "p99" "max" "non-2xx" "errors" "cpu"
declare -A rate
for s in hookwire webhook express; do
  wants "$s" || continue
  rate[$s]=$(per_sec "$(result "$s" ok2xx)" "$(result "$s" duration_us)")
  printf '%-9s %10s %10s %10s %10s %9s %7s  %s\n' "$s" "${rate[$s]}" "$(ms "$(result "$s" p50_us)")" \
    "$(ms "$(result "$s" p99_us)")" "$(ms "$(result "$s" max_us)")" "$(result "$s" non2xx)" \
    "$(result "$s" socket_errors)" "$(cat "$WORK/$s.cpu")"
  [ "$(result "$s" non2xx)" = 0 ] || echo "  $s first non-2xx: $(result "$s" first_error)"
done
if wants hookwire; then
  ok=$(result hookwire ok2xx)
  echo "hookwire durability check: $stored events stored >= $ok acknowledged: $([ "$stored" -ge "$ok" ] && echo yes || echo NO)"
  awk '/^store_batch_size_sum/ { s = $2 } /^store_batch_size_count/ { c = $2 }
       END { if (c > 0) printf "hookwire group commit: %.1f writes per commit over %d commits\n", s / c, c }' "$WORK/metrics.txt"
  if wants webhook; then
    echo "hookwire / webhook: $(awk -v a="${rate[hookwire]}" -v b="${rate[webhook]}" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')"
  fi
  if wants express; then
    echo "hookwire / express: $(awk -v a="${rate[hookwire]}" -v b="${rate[express]}" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')"
  fi
  echo "target: >= 25000 2xx/s$(wants webhook && echo ' and >= 5x webhook'): $(awk -v r="${rate[hookwire]}" -v w="${rate[webhook]:-0}" \
    'BEGIN { print ((r >= 25000 && (w == 0 || r >= 5 * w)) ? "met" : "NOT met") }')"
  [ -s "$WORK/hookwire.err" ] && { echo "hookwire stderr (first 5 lines):"; head -n 5 "$WORK/hookwire.err" | sed 's/^/  /'; }
  [ "$stored" -ge "$ok" ] || die "acknowledged events missing from the store: $stored < $ok"
fi
