#!/usr/bin/env bash
# bench/postgres: hookwire on PostgreSQL (issue #21). A benchmark, not a test: never part of the test command.
# See bench/postgres/README.md.
#
#   bench/postgres/run.sh [ingest|drain|statements|all]     (default all)
#
# ingest      acknowledged messages/s of one node (wrk, 1 KB bodies, a random idempotency-key per request) next to
#             pgbench's single-row INSERT transactions/s at the same concurrency on the same cluster, run just
#             before and just after it (target: hookwire >= 2x pgbench)
# drain       deliveries/s with 1, 2 and 3 nodes draining the same backlog (a copy of one loaded database) to a
#             local nginx `return 200`, next to SQLite's single node draining a backlog loaded the same way
#             (target: 3 nodes >= 0.8x one node)
# statements  SQL statements per message from publish to recorded delivery, from pg_stat_statements (target <= 6)
#
# A throwaway PostgreSQL 15 cluster is made in the temp directory (initdb + pg_ctl as the postgres user, loopback
# port, no Unix socket, trust auth, pg_stat_statements preloaded; fsync and synchronous_commit at their defaults:
# on). Environment:
#   CONNECTIONS, WRK_THREADS, BODY_BYTES   wrk settings and pgbench's -c / -j (64, 2, 1024)
#   DURATION         ingest: wrk and each pgbench run (default 10s)
#   ENDPOINTS        drain: endpoints of the app, one channel each (default 32)
#   LOAD_DURATION    drain: wrk time loading the backlog with delivery off (default 10s)
#   STMT_DURATION    statements: wrk time publishing with delivery on (default 5s)
#   IDLE_SECONDS     statements: idle time over which the background statements are counted (default 5)
#   SAMPLE_MS        drain: sampling period of the sink's count (default 100)
#   NGINX_WORKERS    sink worker_processes (default auto)
#   HOOKWIRE_PG_BIN  PostgreSQL's binaries (default /usr/lib/postgresql/15/bin)
#   HOOKWIRE_BIN, BUILD_DIR, KEEP=1  as in bench/ingest/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MODE=${1:-all}
case $MODE in ingest | drain | statements | all) ;; *) echo "usage: $0 [ingest|drain|statements|all]" >&2; exit 2 ;; esac
secs() { local d=$1; [[ $d =~ ^[0-9]+$ ]] && d="${d}s"; echo "$d"; }
DURATION=$(secs "${DURATION:-10s}")
LOAD_DURATION=$(secs "${LOAD_DURATION:-10s}")
STMT_DURATION=$(secs "${STMT_DURATION:-5s}")
IDLE_SECONDS=${IDLE_SECONDS:-5}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
BODY_BYTES=${BODY_BYTES:-1024}
ENDPOINTS=${ENDPOINTS:-32}
SAMPLE_MS=${SAMPLE_MS:-100}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
PG_BIN=${HOOKWIRE_PG_BIN:-/usr/lib/postgresql/15/bin}
TOKEN=t
APP=bench

BENCH_NAME=bench/postgres
# shellcheck source=../lib/common.sh
. "$REPO/bench/lib/common.sh"
bench_prereqs node:nodejs pgbench:postgresql-contrib-15,postgresql-15 psql:postgresql-client-15
[ -x "$PG_BIN/initdb" ] || die "no initdb in $PG_BIN (install postgresql-15 or set HOOKWIRE_PG_BIN)"
bench_build_hookwire
bench_init hookwire-bench-postgres

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "machine: $(nproc) cores, load average $LOAD_AT_START; hookwire $HOOKWIRE_BIN"
SUMMARY=$WORK/summary.txt
: >"$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
metric() { awk -v k="$2" '$1 == k { v = $2 } END { printf "%.0f", v + 0 }' "$1"; }

# ---- the PostgreSQL cluster ----------------------------------------------------------------------------------
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PGDIR=$WORK/pg
PG_PORT=""
start_pg() {
  chmod 711 "$WORK"  # the postgres user must reach its directory inside
  mkdir -p "$PGDIR"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PGDIR"
  as_postgres "$PG_BIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
  PG_PORT=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
  as_postgres "$PG_BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 -o "-p $PG_PORT \
-c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=200 \
-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=10000" start >/dev/null ||
    { cat "$PGDIR/server.log" >&2; die "pg_ctl start failed"; }
  PG_POSTMASTER=$(head -n 1 "$PGDIR/data/postmaster.pid")
  q postgres "CREATE EXTENSION pg_stat_statements" >/dev/null
}
stop_pg() {
  [ -n "$PG_PORT" ] && [ -f "$PGDIR/data/postmaster.pid" ] &&
    as_postgres "$PG_BIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true
  PG_PORT=""
}
trap 'stop_pg; cleanup' EXIT
q() {  # db sql -> unaligned tuples
  psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$1" -c "$2"
}
pg_url() { echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"; }
pg_pids() { echo "$PG_POSTMASTER" $(pgrep -P "$PG_POSTMASTER" || true); }

# ---- hookwire nodes ------------------------------------------------------------------------------------------
# launch_node label arg...: starts `hookwire serve --listen 127.0.0.1:0` in the background with its own data dir
# WORK/label-data (output in WORK/label.out and .err) and adds its pid to EXTRA_PIDS (stopped on exit); sets
# NODE_PID. Several can be launched before waiting: they then start together.
launch_node() {
  local label=$1; shift
  HOOKWIRE_ADMIN_TOKEN=$TOKEN "$HOOKWIRE_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/$label-data" \
    --log-level warn "$@" >"$WORK/$label.out" 2>"$WORK/$label.err" &
  NODE_PID=$!
  EXTRA_PIDS+=("$NODE_PID")
}
# await_node label pid: waits for its "listening on" line (30 s at most); sets NODE_URL.
await_node() {
  NODE_URL=""
  for _ in $(seq 1 300); do
    NODE_URL=$(sed -n 's|^hookwire: listening on \(http://[^ ]*\)$|\1|p' "$WORK/$1.out")
    [ -n "$NODE_URL" ] && return 0
    kill -0 "$2" 2>/dev/null || { cat "$WORK/$1.err" >&2; die "hookwire ($1) exited at start"; }
    sleep 0.1
  done
  die "hookwire ($1) did not report its port within 30 s"
}
start_node() { launch_node "$@"; await_node "$1" "$NODE_PID"; }  # one node: sets NODE_PID and NODE_URL
# make_app url endpoints: the app `bench`; with endpoints > 0, that many endpoints at the sink, endpoint i
# subscribed to channel c<i> (wrk's BENCH_CHANNELS sends each message to one of them).
make_app() {
  local HW_URL=$1 n=$2 i
  api POST /api/v1/app "{\"name\":\"$APP\",\"uid\":\"$APP\"}" >/dev/null
  if [ "$n" = 1 ]; then
    api POST "/api/v1/app/$APP/endpoint" "{\"url\":\"$NGINX_URL/ep/0\"}" >/dev/null
  fi
  if [ "$n" -gt 1 ]; then
    for ((i = 0; i < n; i++)); do
      api POST "/api/v1/app/$APP/endpoint" \
        "{\"url\":\"$NGINX_URL/ep/$i\",\"channels\":[\"$(printf 'c%03d' "$i")\"]}" >/dev/null
    done
  fi
}

# ---- pgbench: one INSERT per transaction into a table shaped like hookwire's messages -------------------------
setup_pgbench() {
  q postgres "CREATE DATABASE pgb" >/dev/null
  q pgb "CREATE TABLE messages (app_id text COLLATE \"C\" NOT NULL, id text COLLATE \"C\" NOT NULL,
           position bigint NOT NULL, event_id text COLLATE \"C\", event_type text COLLATE \"C\" NOT NULL,
           payload text NOT NULL, channels text, created_at bigint NOT NULL, idempotency_key text COLLATE \"C\",
           request_hash text, payload_expires_at bigint, headers text, PRIMARY KEY (app_id, id));
         CREATE UNIQUE INDEX messages_by_position ON messages (position);
         CREATE UNIQUE INDEX messages_by_idempotency_key ON messages (app_id, idempotency_key)
           WHERE idempotency_key IS NOT NULL;
         CREATE SEQUENCE positions;" >/dev/null
  # The same ~1 KB JSON payload as wrk's bodies, a random id and idempotency key (uuids), a position.
  local pad
  pad=$(head -c "$((BODY_BYTES - 60))" /dev/zero | tr '\0' x)
  cat >"$WORK/insert.sql" <<EOF
INSERT INTO messages (app_id, id, position, event_type, payload, created_at, idempotency_key)
VALUES ('app_bench', 'msg_' || gen_random_uuid(), nextval('positions'), 'bench.event',
        '{"key":"' || gen_random_uuid() || '","data":"$pad"}',
        (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 'auto_' || gen_random_uuid());
EOF
}
run_pgbench() {  # label
  pgbench -n -M prepared -c "$CONNECTIONS" -j "$WRK_THREADS" -T "${DURATION%s}" -f "$WORK/insert.sql" \
    -h 127.0.0.1 -p "$PG_PORT" -U postgres pgb >"$WORK/$1.pgbench" 2>&1 || { cat "$WORK/$1.pgbench" >&2; die "pgbench failed"; }
}
pgbench_tps() { awk '/^tps = / { printf "%.0f", $3 }' "$WORK/$1.pgbench"; }
pgbench_lat() { awk '/^latency average = / { print $4 " ms" }' "$WORK/$1.pgbench"; }

# ==== (a) ingest ================================================================================================
ingest() {
  log "ingest: one node, wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION; pgbench -c$CONNECTIONS -j$WRK_THREADS before and after"
  setup_pgbench
  q postgres "CREATE DATABASE ingest" >/dev/null
  local fsync_ms
  fsync_ms=$(dd if=/dev/zero of="$WORK/sync-probe" bs=4k count=200 oflag=dsync 2>&1 |
    awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s," || $i == "s") { printf "%.2f", $(i - 1) * 1000 / 200 } }')
  rm -f "$WORK/sync-probe"
  run_pgbench pgb1
  start_node ingest --store "$(pg_url ingest)"
  local pid=$NODE_PID
  make_app "$NODE_URL" 0
  run_wrk "$NODE_URL" ingest "$pid" $(pg_pids)
  curl -fsS -H "Authorization: Bearer $TOKEN" "$NODE_URL/metrics" >"$WORK/ingest-metrics.txt" || true
  stop_pid "$pid" TERM 30
  run_pgbench pgb2
  local stored ok rate t1 t2 tmean
  stored=$(q ingest "SELECT count(*) FROM messages")
  ok=$(result ingest ok2xx)
  rate=$(per_sec "$ok" "$(result ingest duration_us)")
  t1=$(pgbench_tps pgb1)
  t2=$(pgbench_tps pgb2)
  tmean=$(((t1 + t2) / 2))
  local batch commit
  batch=$(awk '/^store_batch_size_sum/ { s = $2 } /^store_batch_size_count/ { c = $2 }
               END { if (c > 0) printf "%.1f writes/commit over %d commits", s / c, c }' "$WORK/ingest-metrics.txt")
  commit=$(awk '/^store_commit_seconds_sum/ { s = $2 } /^store_commit_seconds_count/ { c = $2 }
               END { if (c > 0) printf "%.2f ms", 1000 * s / c }' "$WORK/ingest-metrics.txt")
  say ""
  say "== (a) ingest ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average at start $LOAD_AT_START)"
  say "hookwire, one node on PostgreSQL: $rate acknowledged msgs/s (wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION, ${BODY_BYTES}-byte bodies, a random idempotency-key each); p50 $(ms "$(result ingest p50_us)"), p99 $(ms "$(result ingest p99_us)"); non-2xx $(result ingest non2xx) $(result ingest non2xx_statuses)"
  say "pgbench, one INSERT per transaction into a copy of hookwire's messages table (-M prepared -c$CONNECTIONS -j$WRK_THREADS -T${DURATION%s}): $t1 tps before (latency $(pgbench_lat pgb1)), $t2 tps after (latency $(pgbench_lat pgb2)); mean $tmean"
  say "ratio hookwire / pgbench: $(ratio "$rate" "$tmean") (to the run before: $(ratio "$rate" "$t1"), after: $(ratio "$rate" "$t2")); target >= 2: $(awk -v r="$rate" -v p="$tmean" 'BEGIN { print (r >= 2 * p) ? "met" : "NOT met" }')"
  say "hookwire group commit: $batch, $commit per commit; durability check: $stored stored >= $ok acknowledged: $([ "$stored" -ge "$ok" ] && echo yes || echo NO)"
  say "disk: ${fsync_ms:-?} ms per 4 KiB O_DSYNC append (dd, 200 writes, before the runs)"
  say "CPU during hookwire's run (hookwire and PostgreSQL processes):"
  tee -a "$SUMMARY" <"$WORK/ingest.cpushare"
  [ -s "$WORK/ingest.err" ] && { say "hookwire stderr (first 5 lines):"; head -n 5 "$WORK/ingest.err" | sed 's/^/  /' | tee -a "$SUMMARY"; }
  [ "$stored" -ge "$ok" ] || die "acknowledged messages missing: $stored stored < $ok acknowledged"
}

# ==== (b) drain =================================================================================================
# drain_rates samples total t0 -> "steady overall seconds steady_seconds" (as bench/delivery: steady is 10 % ->
# 90 % of the total by linear interpolation between samples; overall is t0 -> the last request)
drain_rates() {
  awk -v total="$2" -v t0="$3" '
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
    }' "$1"
}
# all_up_rate samples t: "N/s from +S s" the rate from the first sample at or after t (every node listening) to
# the last delivery
all_up_rate() {
  awk -v s="$2" 'NR == 1 { t0 = $1 } $1 == "done" { next } { t[NR] = $1; c[NR] = $2; m = NR }
    END { for (i = 1; i <= m; i++) if (t[i] >= s) { a = i; break }
          if (!a || t[m] <= t[a]) { print "(too late to measure)"; exit }
          printf "+%.2f s: %.0f/s over the last %.2f s", t[a] - t0, (c[m] - c[a]) / (t[m] - t[a]), t[m] - t[a] }' "$1"
}
# follow_drain label sink0 total: starts sampling the sink (drain.mjs, in the background: start it before the
# nodes, so that the samples cover the whole drain) until `total` requests arrived, into WORK/label.samples;
# sets SAMPLER_PID (wait_drain waits for it).
follow_drain() {
  SINK_STATUS_URL="$NGINX_URL/nginx-status" TOTAL=$3 SINK0=$2 SAMPLE_MS=$SAMPLE_MS OUT="$WORK/$1.samples" \
    node "$HERE/drain.mjs" &
  SAMPLER_PID=$!
  EXTRA_PIDS+=("$SAMPLER_PID")
}
wait_drain() { wait "$SAMPLER_PID" || log "$1: the drain did not finish"; }

drain() {
  log "drain: $ENDPOINTS endpoints, backlog loaded with wrk -c$CONNECTIONS -d$LOAD_DURATION (delivery off)"
  start_nginx "$NGINX_WORKERS"
  # The backlog, loaded once into drain_src; each run drains a copy of it (CREATE DATABASE ... TEMPLATE).
  q postgres "CREATE DATABASE drain_src" >/dev/null
  start_node load --store "$(pg_url drain_src)" --delivery off --delivery-allow-cidr 127.0.0.0/8
  local pid=$NODE_PID
  make_app "$NODE_URL" "$ENDPOINTS"
  DURATION=$LOAD_DURATION BENCH_CHANNELS=$ENDPOINTS run_wrk "$NODE_URL" load "$pid"
  stop_pid "$pid" TERM 30
  local total msgs
  total=$(q drain_src "SELECT count(*) FROM deliveries WHERE status = 1")
  msgs=$(q drain_src "SELECT count(*) FROM messages")
  log "backlog: $msgs messages, $total pending deliveries"
  [ "$total" -gt 0 ] || die "no pending deliveries were stored"
  say ""
  say "== (b) drain ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average now $(cut -d' ' -f1-3 /proc/loadavg))"
  say "sink: nginx return 200 ($NGINX_WORKERS workers); $ENDPOINTS endpoints of one app, one delivery per message; attempts logged"
  say "PostgreSQL backlog: $msgs messages, $total pending deliveries (loaded at $(per_sec "$(result load ok2xx)" "$(result load duration_us)") msgs/s with delivery off)"

  local n i one=0
  for n in 1 2 3; do
    q postgres "CREATE DATABASE drain_$n TEMPLATE drain_src" >/dev/null
    local sink0 t0 up
    read -r _ sink0 < <(nginx_counts)
    # CPU from before the nodes start (processes that appear later are counted whole: all their life is in the
    # drain), the sampler from before too, then the nodes launched together.
    cpu_begin "drain$n" $(pg_pids) $(nginx_pids)
    t0=$(date +%s.%N)
    follow_drain "drain$n" "$sink0" "$total"
    NODE_PIDS=()
    local urls=()
    for ((i = 0; i < n; i++)); do
      launch_node "drain$n-$i" --store "$(pg_url "drain_$n")" --delivery-allow-cidr 127.0.0.0/8
      NODE_PIDS+=("$NODE_PID")
    done
    for ((i = 0; i < n; i++)); do
      await_node "drain$n-$i" "${NODE_PIDS[$i]}"
      urls+=("$NODE_URL")
    done
    up=$(date +%s.%N)
    wait_drain "drain$n"
    cpu_end "drain$n" "sampler (node)" "${NODE_PIDS[@]}" $(pg_pids) $(nginx_pids)
    local deferred=0 u
    for u in "${urls[@]}"; do  # deliveries put back by a node (its line for an endpoint was full, or a rate limit)
      curl -fsS -H "Authorization: Bearer $TOKEN" "$u/metrics" >"$WORK/drain$n.metrics" || true
      deferred=$((deferred + $(metric "$WORK/drain$n.metrics" delivery_deferred_total)))
    done
    for pid in "${NODE_PIDS[@]}"; do stop_pid "$pid" TERM 30; done
    local steady overall dsecs ssecs delivered left req1 allup
    read -r steady overall dsecs ssecs <<<"$(drain_rates "$WORK/drain$n.samples" "$total" "$t0")"
    allup=$(all_up_rate "$WORK/drain$n.samples" "$up")
    delivered=$(q "drain_$n" "SELECT count(*) FROM deliveries WHERE status = 0")
    left=$(q "drain_$n" "SELECT count(*) FROM deliveries WHERE status <> 0")
    read -r _ req1 < <(nginx_counts)
    local sent=$((req1 - sink0 - 1 - $(awk '$1 == "done" { print $4 }' "$WORK/drain$n.samples")))
    [ "$n" = 1 ] && one=$steady
    say "PostgreSQL, $n node(s): steady $steady deliveries/s (10 %..90 %, ${ssecs} s), overall $overall/s over ${dsecs} s from the first start; $delivered recorded delivered, $left not; the sink got $sent requests ($((sent - total)) more than the deliveries); $deferred deferrals; all $n up $allup$( [ "$n" -gt 1 ] && echo "; ratio to one node $(ratio "$steady" "$one")")"
    awk '/machine busy|in total|everything else/' "$WORK/drain$n.cpushare" | sed 's/^/  /' | tee -a "$SUMMARY"
    for ((i = 0; i < n; i++)); do
      [ -s "$WORK/drain$n-$i.err" ] && { say "  node $i stderr (first 3 lines):"; head -n 3 "$WORK/drain$n-$i.err" | cut -c1-300 | sed 's/^/    /' | tee -a "$SUMMARY"; }
    done
    q postgres "DROP DATABASE drain_$n" >/dev/null
  done

  # SQLite, one node: a backlog loaded the same way (its own rate decides its size), then drained.
  local data=$WORK/sqlite-data
  start_hookwire sqlite-load --data-dir "$data" --delivery off --delivery-allow-cidr 127.0.0.0/8 --log-level warn
  make_app "$HW_URL" "$ENDPOINTS"
  DURATION=$LOAD_DURATION BENCH_CHANNELS=$ENDPOINTS run_wrk "$HW_URL" sqlite-load "$HOOKWIRE_PID"
  stop_pid "$HOOKWIRE_PID" TERM 30
  HOOKWIRE_PID=""
  local stotal
  stotal=$(sqlite3 "$data/hookwire.db" "SELECT count(*) FROM deliveries WHERE status = 1")
  local sink0 t0
  read -r _ sink0 < <(nginx_counts)
  cpu_begin sqlite $(nginx_pids)
  t0=$(date +%s.%N)
  follow_drain sqlite "$sink0" "$stotal"
  start_hookwire sqlite-drain --data-dir "$data" --delivery-allow-cidr 127.0.0.0/8 --log-level warn
  wait_drain sqlite
  cpu_end sqlite "sampler (node)" "$HOOKWIRE_PID" $(nginx_pids)
  curl -fsS -H "Authorization: Bearer $TOKEN" "$HW_URL/metrics" >"$WORK/sqlite.metrics" || true
  stop_pid "$HOOKWIRE_PID" TERM 30
  HOOKWIRE_PID=""
  local steady overall dsecs ssecs
  read -r steady overall dsecs ssecs <<<"$(drain_rates "$WORK/sqlite.samples" "$stotal" "$t0")"
  say "SQLite, one node: backlog $stotal deliveries (loaded at $(per_sec "$(result sqlite-load ok2xx)" "$(result sqlite-load duration_us)") msgs/s); steady $steady deliveries/s (${ssecs} s), overall $overall/s over ${dsecs} s; $(metric "$WORK/sqlite.metrics" delivery_deferred_total) deferrals; left $(sqlite3 "$data/hookwire.db" "SELECT count(*) FROM deliveries WHERE status <> 0")"
  awk '/machine busy|in total|everything else/' "$WORK/sqlite.cpushare" | sed 's/^/  /' | tee -a "$SUMMARY"
  local three
  three=$(awk '/^PostgreSQL, 3 node/ { sub(/.*steady /, ""); print $1 }' "$SUMMARY")
  say "target: 3 nodes >= 0.8x one node: $(ratio "$three" "$one") -> $(awk -v a="$three" -v b="$one" 'BEGIN { print (a >= 0.8 * b) ? "met" : "NOT met" }'); PostgreSQL one node / SQLite one node: $(ratio "$one" "$steady")"
  stop_pid "$NGINX_PID" QUIT 10
  NGINX_PID=""
}
# ==== (c) statements per message ================================================================================
statements() {
  log "statements: one node, $ENDPOINTS endpoints (one delivery per message), wrk -c$CONNECTIONS -d$STMT_DURATION, then the drain; pg_stat_statements"
  [ -n "${NGINX_PID:-}" ] || start_nginx "$NGINX_WORKERS"
  q postgres "CREATE DATABASE stmts" >/dev/null
  start_node stmts --store "$(pg_url stmts)" --delivery-allow-cidr 127.0.0.0/8
  local pid=$NODE_PID url=$NODE_URL
  make_app "$url" "$ENDPOINTS"
  local dbid
  dbid=$(q postgres "SELECT oid FROM pg_database WHERE datname = 'stmts'")
  # Background first: what the node runs with nothing to do (feed watcher poll, renewals, janitor, node mark).
  q postgres "SELECT pg_stat_statements_reset()" >/dev/null
  sleep "$IDLE_SECONDS"
  local idle
  idle=$(q postgres "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = $dbid")
  q postgres "SELECT pg_stat_statements_reset()" >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  DURATION=$STMT_DURATION BENCH_CHANNELS=$ENDPOINTS run_wrk "$url" stmts "$pid"
  local acked
  acked=$(result stmts ok2xx)
  # Until every acknowledged message's delivery is recorded as delivered (one /metrics read per 0.5 s).
  local delivered=0
  for _ in $(seq 1 240); do
    curl -fsS -H "Authorization: Bearer $TOKEN" "$url/metrics" >"$WORK/stmts-metrics.txt"
    delivered=$(metric "$WORK/stmts-metrics.txt" 'delivery_attempts_total{outcome="delivered"}')
    [ "$delivered" -ge "$acked" ] && break
    sleep 0.5
  done
  t1=$(date +%s.%N)
  q postgres "SELECT calls, rows, regexp_replace(left(query, 150), '\s+', ' ', 'g') FROM pg_stat_statements
              WHERE dbid = $dbid ORDER BY calls DESC" >"$WORK/stmts.top"
  local total tx msgs
  total=$(q postgres "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = $dbid")
  tx=$(q postgres "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = $dbid
                   AND query ~* '^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|START TRANSACTION)'")
  msgs=$(q stmts "SELECT count(*) FROM messages")
  stop_pid "$pid" TERM 30
  local window background
  window=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  background=$(awk -v i="$idle" -v s="$IDLE_SECONDS" -v w="$window" 'BEGIN { printf "%.0f", i / s * w }')
  say ""
  say "== (c) SQL statements per message ($(date -u +%Y-%m-%dT%H:%MZ))"
  say "one node, $ENDPOINTS endpoints at nginx (one channel each: one delivery per message), wrk -c$CONNECTIONS -d$STMT_DURATION with a random idempotency-key per request: $acked acknowledged, $msgs messages stored, $delivered delivered and recorded, ${window} s from the first request to the last record"
  say "pg_stat_statements over that window: $total statements ($tx of them BEGIN/COMMIT/ROLLBACK/SAVEPOINT): $(ratio "$total" "$msgs") per message in all, $(ratio "$((total - tx))" "$msgs") without transaction control"
  say "idle background: $idle statements in ${IDLE_SECONDS} s (~$background over the window); without it: $(ratio "$((total - background))" "$msgs") per message"
  say "target <= 6 per message (Convoy reports ~32): $(awk -v t="$total" -v m="$msgs" 'BEGIN { print (m > 0 && t / m <= 6) ? "met" : "NOT met" }') (counting every statement)"
  say "statements by calls (calls, rows, text):"
  head -n 15 "$WORK/stmts.top" | sed 's/^/  /' | tee -a "$SUMMARY"
}

start_pg
log "PostgreSQL $(q postgres 'SHOW server_version') on 127.0.0.1:$PG_PORT (data $PGDIR/data)"
case $MODE in
  ingest) ingest ;;
  drain) drain ;;
  statements) statements ;;
  all) ingest; drain; statements ;;
esac
echo
echo "== summary"
cat "$SUMMARY"
