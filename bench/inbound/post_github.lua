-- wrk script for bench/inbound: GitHub-style webhooks. Every request carries the same ~1 KB JSON body and its
-- X-Hub-Signature-256 (computed by run.sh with openssl over the exact bytes of BENCH_BODY_FILE), plus a unique
-- random X-GitHub-Delivery UUID (hookwire deduplicates on it, so every request is a new event). The same script drives
-- hookwire, Debian's `webhook` and the Express receiver: byte-identical traffic, only the path differs.
-- Prints machine-readable "RESULT key=value" lines at the end (2xx counted as accepted).
--
-- Environment: BENCH_PATH, BENCH_BODY_FILE, BENCH_SIGNATURE ("sha256=<hex>").

local path = os.getenv("BENCH_PATH") or "/in/github"
local signature = os.getenv("BENCH_SIGNATURE") or ""
local f = assert(io.open(os.getenv("BENCH_BODY_FILE") or "body.json", "rb"))
local body = f:read("*a")
f:close()

-- A random (version 4) UUID, the shape of GitHub's delivery ids and of the svix SDKs' idempotency keys. Their
-- randomness matters: an index on random keys costs more than one on a counter, so the benchmark sends what
-- real senders send. Each wrk thread seeds its own generator (see init), so threads never repeat each other.
local function uuid4()
  local r = math.random
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x", r(0, 0xffff), r(0, 0xffff), r(0, 0xffff),
    r(0, 0xfff), r(0x8000, 0xbfff), r(0, 0xffff), r(0, 0xffff), r(0, 0xffff))
end

local threads = {}
function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

counter = 0
ok = 0
non2xx = 0
first_error = ""

local headers = {
  ["Content-Type"] = "application/json",
  ["User-Agent"] = "GitHub-Hookshot/bench",
  ["X-GitHub-Event"] = "push",
  ["X-GitHub-Hook-ID"] = "1",
  ["X-Hub-Signature-256"] = signature,
}

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

-- Requests differ only in the delivery id, so the request is formatted once, around a placeholder, and each
-- request joins the two halves around a new id: the request wrk.format gives (same headers and length), at
-- a third less of wrk's user CPU per request. wrk shares the machine's two cores with the server it measures.
local head, tail
function request()
  counter = counter + 1
  if not head then
    headers["X-GitHub-Delivery"] = "\0"
    local whole = wrk.format("POST", path, headers, body)
    local at = assert(string.find(whole, "\0", 1, true))
    head, tail = string.sub(whole, 1, at - 1), string.sub(whole, at + 1)
  end
  return head .. uuid4() .. tail
end

function response(status, hdrs, resp_body)
  if status >= 200 and status < 300 then
    ok = ok + 1
    return
  end
  non2xx = non2xx + 1
  if first_error == "" then
    first_error = tostring(status) .. " " .. string.gsub(string.sub(resp_body or "", 1, 200), "%s+", " ")
  end
end

function done(summary, latency, requests)
  local total_ok, total_non2xx, err = 0, 0, ""
  for _, t in ipairs(threads) do
    total_ok = total_ok + (t:get("ok") or 0)
    total_non2xx = total_non2xx + (t:get("non2xx") or 0)
    if err == "" then err = t:get("first_error") or "" end
  end
  local e = summary.errors
  io.write(string.format("RESULT duration_us=%d\n", summary.duration))
  io.write(string.format("RESULT ok2xx=%d\n", total_ok))
  io.write(string.format("RESULT non2xx=%d\n", total_non2xx))
  io.write(string.format("RESULT first_error=%s\n", err))
  io.write(string.format("RESULT socket_errors=%d\n", e.connect + e.read + e.write + e.timeout))
  io.write(string.format("RESULT p50_us=%d\n", latency:percentile(50)))
  io.write(string.format("RESULT p99_us=%d\n", latency:percentile(99)))
  io.write(string.format("RESULT max_us=%d\n", latency.max))
end
