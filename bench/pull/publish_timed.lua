-- wrk script for bench/pull's lag phase: POSTs messages at a fixed total rate, round-robin over the applications
-- pull-0 .. pull-<APPS-1>, each payload carrying its send time ("sent", CLOCK_MONOTONIC ns: the clock the
-- readers stamp arrivals with). Every 2xx answer appends "<msg id> <2xx ns> <sent ns>" to PUBLISHED_PREFIX<thread>.
--
-- The rate: each wrk thread keeps its own schedule (RATE / threads per second, from its first request) and
-- delay() holds a connection until its next slot, so the offered load does not follow hookwire's answers (an
-- open-loop publisher, as wrk2 would be; wrk2 is not packaged in Debian). wrk's timers have millisecond
-- granularity, so messages leave in small bursts within each millisecond.
--
-- Environment: RATE (5000), APPS (1100), WRK_THREADS (2, as passed to wrk -t), BENCH_TOKEN ("t"),
-- BODY_BYTES (1024), PUBLISHED_PREFIX (required).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } hw_timespec;
  int clock_gettime(int clk_id, hw_timespec *tp);
]]
local ts = ffi.new("hw_timespec")
local function now_ns()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end

local rate = tonumber(os.getenv("RATE") or "5000")
local apps = tonumber(os.getenv("APPS") or "1100")
local nthreads = tonumber(os.getenv("WRK_THREADS") or "2")
local token = os.getenv("BENCH_TOKEN") or "t"
local body_bytes = tonumber(os.getenv("BODY_BYTES") or "1024")
local prefix_path = os.getenv("PUBLISHED_PREFIX")

local threads = {}
function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state).
local interval_ms = 1000 * nthreads / rate
local start_ms, slot, seq, out
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
local pad
sent_count = 0
acked = 0
failed = 0

function init(args)
  out = assert(io.open(prefix_path .. thread_id, "w"))
  out:setvbuf("line")  -- wrk never closes a thread's Lua state: every line must reach the file as written
  slot = 0
  seq = thread_id
  local fixed = #'{"eventType":"bench.pull","payload":{"sent":0000000000000000,"seq":0000000000,"data":""}}'
  pad = string.rep("x", math.max(0, body_bytes - fixed))
end

function delay()
  local t = now_ns() / 1e6
  if not start_ms then start_ms = t end
  local due = start_ms + slot * interval_ms
  slot = slot + 1
  if due <= t then return 0 end
  return math.ceil(due - t)
end

function request()
  seq = seq + nthreads
  sent_count = sent_count + 1
  local app = "pull-" .. (seq % apps)
  local body = string.format('{"eventType":"bench.pull","payload":{"sent":%16d,"seq":%10d,"data":"%s"}}',
    now_ns(), seq, pad)
  return wrk.format("POST", "/api/v1/app/" .. app .. "/msg", headers, body)
end

function response(status, hdrs, body)
  if status ~= 202 then
    failed = failed + 1
    return
  end
  acked = acked + 1
  local at = now_ns()
  local id = string.match(body, '"id":"(msg_[^"]+)"')
  local sent = string.match(body, '"sent":%s*(%d+)')
  out:write(id, " ", string.format("%d", at), " ", sent, "\n")
end

function done(summary, latency, requests)
  local s, a, f = 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + (t:get("sent_count") or 0)
    a = a + (t:get("acked") or 0)
    f = f + (t:get("failed") or 0)
  end
  io.write(string.format("RESULT publish_sent=%d\nRESULT published=%d\nRESULT publish_failed=%d\n", s, a, f))
  io.write(string.format("RESULT publish_rate=%.0f\n", a / (summary.duration / 1e6)))
  io.write(string.format("RESULT publish_p50_us=%d\nRESULT publish_p99_us=%d\n", latency:percentile(50),
    latency:percentile(99)))
end
