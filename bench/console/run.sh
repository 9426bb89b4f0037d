#!/usr/bin/env bash
# bench/console: the console's message-log reads on 1,000,000 messages in one application (issue #22). A
# benchmark, not a test: never part of the test command. See bench/console/README.md.
#
#   bench/console/run.sh
#
# Loads MESSAGES messages (and one delivery each) into one application with sqlite3 (hookwire is stopped
# meanwhile), starts hookwire on that file with delivery off, and times each read REPS times after WARMUP
# untimed ones: server time = curl's time_total - time_connect (request sent to the last byte of the answer)
# on loopback, one connection per request.
#
# Environment: MESSAGES (1000000), REPS (20), WARMUP (2), HOOKWIRE_BIN, BUILD_DIR, KEEP=1 (as bench/ingest).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MESSAGES=${MESSAGES:-1000000}
REPS=${REPS:-20}
WARMUP=${WARMUP:-2}
TOKEN=t
export TOKEN

BENCH_NAME=bench/console
# shellcheck source=../lib/common.sh
. "$REPO/bench/lib/common.sh"
bench_prereqs --only sqlite3:sqlite3 curl:curl
bench_build_hookwire
bench_init hookwire-bench-console

log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); hookwire $HOOKWIRE_BIN"
SUMMARY=$WORK/summary.txt
: >"$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
stop_hookwire() { stop_pid "$HOOKWIRE_PID" TERM 60; HOOKWIRE_PID=""; }
DATA=$WORK/data
DB=$DATA/hookwire.db

start_hookwire setup --data-dir "$DATA" --log-level warn --delivery off
api POST /api/v1/app '{"name":"console","uid":"console"}' >/dev/null
api POST /api/v1/app/console/endpoint '{"uid":"ep","url":"https://bench.invalid/hook"}' >/dev/null
stop_hookwire

# One application; eventId evt-<i>; ten event types (type.0 .. type.9, each a tenth); one delivery per message
# to the one endpoint: i % 100 = 0 failed (1 %), i % 100 = 1 pending (1 %), i % 1000 = 2 retrying ("sending",
# 0.1 %), the rest delivered. Ids are msg_<27 digits> in insert order (the shape hookwire checks, below any
# id it mints), as bench/pull's catch-up does; created_at one millisecond apart, ending now.
app_id=$(sqlite3 "$DB" "SELECT id FROM applications WHERE uid = 'console'")
ep_id=$(sqlite3 "$DB" "SELECT id FROM endpoints WHERE uid = 'ep'")
log "loading $MESSAGES messages and $MESSAGES deliveries with sqlite3"
t0=$(date +%s.%N)
sqlite3 "$DB" <<SQL
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $MESSAGES)
INSERT INTO messages (rowid, app_id, id, event_id, event_type, payload, created_at)
SELECT i, '$app_id', printf('msg_%027d', i), 'evt-' || i, 'type.' || (i % 10),
       '{"seq":' || i || ',"user":"u_' || (i % 5000) || '","data":"' || printf('%.*c', 200, 'x') || '"}',
       CAST(strftime('%s', 'now') AS INTEGER) * 1000 - $MESSAGES + i FROM n;
INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at)
SELECT printf('dlv_%027d', rowid), app_id, id, '$ep_id',
       CASE WHEN rowid % 100 = 0 THEN 2 WHEN rowid % 100 = 1 OR rowid % 1000 = 2 THEN 1 ELSE 0 END,
       CASE WHEN rowid % 100 = 1 THEN 0 WHEN rowid % 100 = 0 THEN 5 ELSE 1 END,
       created_at, created_at, created_at
FROM messages WHERE app_id = '$app_id';
UPDATE feed_state SET high_water = max(high_water, (SELECT max(rowid) FROM messages));
COMMIT;
SQL
t1=$(date +%s.%N)
say "== $MESSAGES messages + $MESSAGES deliveries loaded with sqlite3 in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s; database $(du -m "$DB" | cut -f1) MB"

start_hookwire console --data-dir "$DATA" --log-level warn --delivery off
# time_ms path -> "first median p95 max" in ms of server time over REPS (first: the very first request)
time_ms() {
  local path=$1 i out first=""
  : >"$WORK/times"
  for ((i = 0; i < WARMUP + REPS; i++)); do
    out=$(curl -sS -o "$WORK/body" -w '%{http_code} %{time_connect} %{time_total}' \
      -H "Authorization: Bearer $TOKEN" "$HW_URL$path")
    [[ $out == 200* ]] || { cat "$WORK/body" >&2; die "GET $path answered ${out%% *}"; }
    ms=$(awk '{ printf "%.2f", ($3 - $2) * 1000 }' <<<"$out")
    [ -z "$first" ] && first=$ms
    ((i >= WARMUP)) && echo "$ms" >>"$WORK/times"
  done
  sort -n "$WORK/times" | awk -v first="$first" '{ v[NR] = $1 } END {
    printf "first %s ms, median %.2f ms, p95 %.2f ms, max %.2f ms", first, v[int((NR + 1) / 2)], v[int(NR * 0.95 + 0.5)], v[NR] }'
}
items() { grep -o '"id":"msg_[0-9a-zA-Z]*"' "$WORK/body" | wc -l; }
base=/api/v1/app/console
say "== server time of one read (curl on loopback, $REPS timed after $WARMUP untimed; target < 100 ms each)"
r=$(time_ms "$base/msg?limit=50"); say "   first page                  GET .../msg?limit=50: $r ($(items) messages)"
r=$(time_ms "$base/msg?limit=50&with_content=false"); say "   first page, no payloads     GET .../msg?limit=50&with_content=false: $r"
r=$(time_ms "$base/msg?limit=50&event_types=type.3"); say "   event type filter (1/10)    GET .../msg?limit=50&event_types=type.3: $r ($(items) messages)"
r=$(time_ms "$base/msg?limit=50&status=2"); say "   status filter, fail (1 %)   GET .../msg?limit=50&status=2: $r ($(items) messages)"
r=$(time_ms "$base/msg?limit=50&status=3"); say "   status filter, sending (0.1 %) GET .../msg?limit=50&status=3: $r ($(items) messages; a bounded scan)"
r=$(time_ms "$base/msg?limit=50&status=2&event_types=type.0"); say "   status + event type         GET .../msg?limit=50&status=2&event_types=type.0: $r ($(items) messages)"
mid=$((MESSAGES / 2))
r=$(time_ms "$base/msg/evt-$mid"); say "   search by eventId           GET .../msg/evt-$mid: $r"
r=$(time_ms "$base/msg/$(printf 'msg_%027d' "$mid")"); say "   by message id               GET .../msg/msg_<id>: $r"
r=$(time_ms "$base/msg?limit=50&iterator=$(printf 'msg_%027d' "$mid")"); say "   a page in the middle        GET .../msg?limit=50&iterator=<the middle>: $r"
stop_hookwire
log "summary:"
cat "$SUMMARY" >&2
