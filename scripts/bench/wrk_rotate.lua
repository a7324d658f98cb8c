-- wrk script: each request authenticates as one of many members (tokens from TOKENS_FILE, one a line).
-- args: <path>
-- Prints one JSON line of totals and latency percentiles (microseconds) when done.
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end

local thread_id = 0

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  path = args[1] or "/"
  math.randomseed(os.time() + id * 7919)
end

function request()
  local t = tokens[math.random(#tokens)]
  return wrk.format("GET", path, {["Authorization"] = "Token " .. t})
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "socket_errors": %d, "non2xx": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
