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
#   HOOKWIRE_THREADS  passed to `hookwire serve --threads` (default 0: one more than the cores)
#   ONLY          run only these servers (space-separated subset of "hookwire webhook express")
#   KEEP=1        keep the temp directory (data dir, logs, raw wrk output)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_NAME=bench/inbound
# shellcheck source=../lib/common.sh
. "$REPO/bench/lib/common.sh"
bench_wrk_defaults
ONLY=${ONLY:-hookwire webhook express}
HOOKWIRE_THREADS=${HOOKWIRE_THREADS:-0}
DURABILITY=${DURABILITY:-full}
TOKEN=t
SECRET="bench-secret-$(date +%s)"
wants() { [[ " $ONLY " == *" $1 "* ]]; }

bench_prereqs --only wrk:wrk webhook:webhook sqlite3:sqlite3 curl:curl openssl:openssl node:nodejs,npm
if wants express && [ ! -d "$HERE/node_modules/express" ]; then
  log "installing express (bench-local, from bench/inbound/package-lock.json)"
  npm ci --prefix "$HERE" --no-audit --no-fund >/dev/null
fi
if wants hookwire; then bench_build_hookwire; fi
bench_init hookwire-bench-inbound
# hookwire runs as HOOKWIRE_PID; webhook and express join EXTRA_PIDS: all are stopped on exit.

# Waits for "listening on http://..." (express) in a log file; prints the URL.
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

# ---- the request ------------------------------------------------------------------------------------------
BODY_FILE=$WORK/body.json
node -e '
  const n = Number(process.argv[1]);
  const head = JSON.stringify({ ref: "refs/heads/main", before: "0".repeat(40), after: "f".repeat(40),
    repository: { id: 1296269, full_name: "octocat/Hello-World" }, pusher: { name: "octocat" }, padding: "" });
  process.stdout.write(head.replace("\"padding\":\"\"", "\"padding\":\"" + "x".repeat(Math.max(0, n - head.length)) + "\""));
' "$BODY_BYTES" >"$BODY_FILE"
SIGNATURE="sha256=$(openssl dgst -sha256 -hmac "$SECRET" <"$BODY_FILE" | awk '{print $NF}')"

# receive label url path pid...: wrk with post_github.lua against url+path; RESULT lines in WORK/label.wrk, the
# machine's and the server's CPU (with reaped children: webhook's /bin/true runs) in WORK/label.cpuproc.
receive() {
  local label=$1 url=$2 path=$3; shift 3
  BENCH_PATH=$path BENCH_BODY_FILE=$BODY_FILE BENCH_SIGNATURE=$SIGNATURE WRK_SCRIPT=$HERE/post_github.lua \
    WRK_PATH=$path run_wrk "$url" "$label" "$@"
}

log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION, body $(wc -c <"$BODY_FILE") bytes"

# ---- Debian's webhook (run before hookwire and again after it) -----------------------------------------------
# run_webhook label: starts webhook on a free port, measures it as `label`, stops it. The machine's speed drifts
# by up to a quarter within minutes, so the ratio is taken against the mean of a run before and one after.
run_webhook() {
  cat >"$WORK/hooks.json" <<EOF
[{"id": "github", "execute-command": "/bin/true", "response-message": "ok",
  "trigger-rule-mismatch-http-response-code": 401,
  "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": "$SECRET",
                             "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}}}]
EOF
  WH_URL=""
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 20000))
    webhook -hooks "$WORK/hooks.json" -ip 127.0.0.1 -port "$port" >"$WORK/$1.log" 2>&1 &
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
  [ -n "$WH_URL" ] || { cat "$WORK/$1.log" >&2; die "webhook did not start"; }
  EXTRA_PIDS+=("$WH_PID")
  log "webhook $(webhook -version | awk '{print $NF}') on $WH_URL: ${DURATION} of POST /hooks/github"
  receive "$1" "$WH_URL" /hooks/github "$WH_PID"
  stop_pid "$WH_PID" TERM 10
}
if wants webhook; then run_webhook webhook; fi

# ---- 1. hookwire --------------------------------------------------------------------------------------------
stored=""
if wants hookwire; then
  mkdir -p "$WORK/data"
  start_hookwire hookwire --data-dir "$WORK/data" --durability "$DURABILITY" --threads "$HOOKWIRE_THREADS" \
    --log-level warn
  # pull: true, no destinations: what is measured is receiving (verify, dedup, durable store, answer).
  api POST /api/v1/source "{\"uid\":\"github\",\"verifier\":\"github\",\"secrets\":[\"$SECRET\"],\"pull\":true}" \
    >"$WORK/source.json"
  log "hookwire $HOOKWIRE_BIN on $HW_URL: ${DURATION} of POST /in/github"
  receive hookwire "$HW_URL" /in/github "$HOOKWIRE_PID"
  curl -sS -H "Authorization: Bearer $TOKEN" "$HW_URL/metrics" >"$WORK/metrics.txt" || true
  stop_pid "$HOOKWIRE_PID" TERM 30
  HOOKWIRE_PID=""
  stored=$(sqlite3 "$WORK/data/hookwire.db" "SELECT count(*) FROM messages")
fi

if wants webhook && wants hookwire; then run_webhook webhook2; fi

# ---- 3. Express ---------------------------------------------------------------------------------------------
if wants express; then
  SECRET=$SECRET node "$HERE/express_receiver.mjs" >"$WORK/express.out" 2>"$WORK/express.err" &
  EX_PID=$!
  EXTRA_PIDS+=("$EX_PID")
  EX_URL=$(wait_url "$WORK/express.out" "$EX_PID") || { cat "$WORK/express.err" >&2; die "express did not start"; }
  log "express $(node -p 'require(process.argv[1]).version' "$HERE/node_modules/express/package.json") (node $(node -v)) on $EX_URL: ${DURATION} of POST /github"
  receive express "$EX_URL" /github "$EX_PID"
  stop_pid "$EX_PID" TERM 10
fi

# ---- summary ------------------------------------------------------------------------------------------------
echo
echo "== bench/inbound ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, hookwire durability $DURABILITY, load average before $(cut -d' ' -f1-3 /proc/loadavg), wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION, $(wc -c <"$BODY_FILE")-byte GitHub-signed bodies)"
printf '%-9s %10s %10s %10s %10s %9s %7s  %s\n' "" "2xx/s" "p50" "p99" "max" "non-2xx" "errors" "cpu"
declare -A rate
for s in hookwire webhook webhook2 express; do
  wants "${s%2}" || continue
  [ -s "$WORK/$s.wrk" ] || continue
  read -r busy server <"$WORK/$s.cpuproc"
  rate[$s]=$(per_sec "$(result "$s" ok2xx)" "$(result "$s" duration_us)")
  printf '%-9s %10s %10s %10s %10s %9s %7s  %s\n' "$s" "${rate[$s]}" "$(ms "$(result "$s" p50_us)")" \
    "$(ms "$(result "$s" p99_us)")" "$(ms "$(result "$s" max_us)")" "$(result "$s" non2xx)" \
    "$(result "$s" socket_errors)" "machine $busy% busy of $(nproc) cores; server $server% of one core"
  [ "$(result "$s" non2xx)" = 0 ] || echo "  $s first non-2xx: $(result "$s" first_error)"
done
if wants hookwire; then
  ok=$(result hookwire ok2xx)
  echo "hookwire durability check: $stored events stored >= $ok acknowledged: $([ "$stored" -ge "$ok" ] && echo yes || echo NO)"
  awk '/^store_batch_size_sum/ { s = $2 } /^store_batch_size_count/ { c = $2 }
       END { if (c > 0) printf "hookwire group commit: %.1f writes per commit over %d commits\n", s / c, c }' "$WORK/metrics.txt"
  if wants webhook; then
    if [ -n "${rate[webhook2]:-}" ]; then  # the mean of the runs before and after hookwire's
      echo "webhook: $(((rate[webhook] + rate[webhook2]) / 2))/s, the mean of ${rate[webhook]} (before hookwire) and ${rate[webhook2]} (after)"
      rate[webhook]=$(((rate[webhook] + rate[webhook2]) / 2))
    fi
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
