-- wrk script: PUT /api/v1/me/ratings/<movie>/ as one of many members (tokens from TOKENS_FILE) rating a
-- random movie (ids from MOVIES_FILE) with a random half star. Run with -t 2.
-- Prints one JSON line of totals and latency percentiles (microseconds) when done.
local tokens, movies = {}, {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
for line in io.lines(os.getenv("MOVIES_FILE")) do movies[#movies + 1] = line end
local thread_id = 0

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  math.randomseed(os.time() + id * 7919)
end

function request()
  local path = "/api/v1/me/ratings/" .. movies[math.random(#movies)] .. "/"
  local body = string.format('{"value": %.1f}', math.random(1, 10) / 2)
  return wrk.format("PUT", path, {["Authorization"] = "Token " .. tokens[math.random(#tokens)],
                                  ["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "socket_errors": %d, "non2xx": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
