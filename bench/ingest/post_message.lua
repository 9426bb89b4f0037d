-- wrk script for bench/ingest: POST /api/v1/app/{app}/msg with a ~1 KB JSON body and a random
-- idempotency-key per request (as the official svix SDKs send on every POST: "auto_" and a UUID). Counts 2xx answers as
-- acknowledged and everything else as non-2xx, and prints machine-readable "RESULT key=value" lines at the end.
--
-- Environment: BENCH_APP (default "bench"), BENCH_TOKEN (default "t"), BENCH_BODY_BYTES (default 1024),
-- BENCH_CHANNELS (default 0: no channels; N > 0: each message carries one channel "c000".."c<N-1>", in turn,
-- so that it fans out to the one endpoint subscribed to that channel; used by bench/delivery), BENCH_APPS (default
-- 0: every message to BENCH_APP; N > 0: to applications "<BENCH_APP>-0".."<BENCH_APP>-<N-1>" in turn; used by
-- bench/pull, whose readers each read one application).
-- The same script is used against nginx (`return 200`), so both servers receive byte-identical traffic.

local app = os.getenv("BENCH_APP") or "bench"
local token = os.getenv("BENCH_TOKEN") or "t"
local body_bytes = tonumber(os.getenv("BENCH_BODY_BYTES") or "1024")
local channels = tonumber(os.getenv("BENCH_CHANNELS") or "0")
local apps = tonumber(os.getenv("BENCH_APPS") or "0")
local path = "/api/v1/app/" .. app .. "/msg"

-- A random (version 4) UUID, the shape of GitHub's delivery ids and of the svix SDKs' idempotency keys. Their
-- randomness matters: an index on random keys costs more than one on a counter, so the benchmark sends what
-- real senders send. Each wrk thread seeds its own generator (see init), so threads never repeat each other.
local function uuid4()
  local r = math.random
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x", r(0, 0xffff), r(0, 0xffff), r(0, 0xffff),
    r(0, 0xfff), r(0x8000, 0xbfff), r(0, 0xffff), r(0, 0xffff), r(0, 0xffff))
end

local threads = {}

-- Runs in the main Lua state once per wrk thread: give every thread a distinct id.
function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

-- Globals below are per wrk thread (each has its own Lua state) and read back by done() via thread:get.
counter = 0
ok = 0
non2xx = 0
statuses = ""        -- "code:count,..." of non-2xx answers
first_error = ""     -- status and start of the body of the first non-2xx answer

local status_counts = {}
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. token,
}
local prefix, suffix, pad

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  -- Keys are fixed-width, so every body has exactly the same size.
  local sample_key = "auto_" .. uuid4()
  prefix = '{"eventType":"bench.event","payload":{"key":"'
  if channels > 0 then prefix = '{"eventType":"bench.event","channels":["c000"],"payload":{"key":"' end
  local middle = '","data":"'
  suffix = '"}}'
  local fixed = #prefix + #sample_key + #middle + #suffix
  pad = middle .. string.rep("x", math.max(0, body_bytes - fixed))
end

function request()
  counter = counter + 1
  local key = "auto_" .. uuid4()
  headers["idempotency-key"] = key
  if channels > 0 then
    -- Same width as "c000", so every body keeps exactly the same size.
    prefix = string.format('{"eventType":"bench.event","channels":["c%03d"],"payload":{"key":"',
      (counter + (thread_id or 0)) % channels)
  end
  local target = path
  if apps > 0 then target = "/api/v1/app/" .. app .. "-" .. ((counter + (thread_id or 0) * 7919) % apps) .. "/msg" end
  return wrk.format("POST", target, headers, prefix .. key .. pad .. suffix)
end

function response(status, hdrs, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
    return
  end
  non2xx = non2xx + 1
  status_counts[status] = (status_counts[status] or 0) + 1
  local parts = {}
  for code, n in pairs(status_counts) do parts[#parts + 1] = code .. ":" .. n end
  statuses = table.concat(parts, ",")
  if first_error == "" then
    first_error = tostring(status) .. " " .. string.gsub(string.sub(body or "", 1, 300), "%s+", " ")
  end
end

function done(summary, latency, requests)
  local total_ok, total_non2xx, sent = 0, 0, 0
  local all_statuses, err = {}, ""
  for _, t in ipairs(threads) do
    total_ok = total_ok + (t:get("ok") or 0)
    total_non2xx = total_non2xx + (t:get("non2xx") or 0)
    sent = sent + (t:get("counter") or 0)
    local s = t:get("statuses") or ""
    if s ~= "" then all_statuses[#all_statuses + 1] = s end
    if err == "" then err = t:get("first_error") or "" end
  end
  local e = summary.errors
  io.write(string.format("RESULT duration_us=%d\n", summary.duration))
  io.write(string.format("RESULT responses=%d\n", summary.requests))
  io.write(string.format("RESULT sent=%d\n", sent))
  io.write(string.format("RESULT ok2xx=%d\n", total_ok))
  io.write(string.format("RESULT non2xx=%d\n", total_non2xx))
  io.write(string.format("RESULT non2xx_statuses=%s\n", table.concat(all_statuses, ",")))
  io.write(string.format("RESULT first_error=%s\n", err))
  io.write(string.format("RESULT errors_connect=%d\n", e.connect))
  io.write(string.format("RESULT errors_read=%d\n", e.read))
  io.write(string.format("RESULT errors_write=%d\n", e.write))
  io.write(string.format("RESULT errors_timeout=%d\n", e.timeout))
  io.write(string.format("RESULT body_bytes=%d\n", body_bytes))
  io.write(string.format("RESULT p50_us=%d\n", latency:percentile(50)))
  io.write(string.format("RESULT p90_us=%d\n", latency:percentile(90)))
  io.write(string.format("RESULT p99_us=%d\n", latency:percentile(99)))
  io.write(string.format("RESULT p999_us=%d\n", latency:percentile(99.9)))
  io.write(string.format("RESULT max_us=%d\n", latency.max))
  io.write(string.format("RESULT mean_us=%d\n", latency.mean))
end
