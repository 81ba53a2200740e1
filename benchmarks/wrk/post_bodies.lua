-- wrk script for the serving benchmark: POSTs the JSON bodies of the file
-- named by $WRK_BODIES (one body per line) in turn (without it, GETs the
-- URL), and prints the figures the benchmark reads as one JSON line
-- starting with WRK_JSON.
-- Requests are formatted once in init(), so wrk spends no CPU per request
-- on Lua string work.
local requests = {}
local next_index = 0

function init(args)
  local path = os.getenv("WRK_BODIES")
  if path == nil or path == "" then
    requests[1] = wrk.format("GET", wrk.path)
    return
  end
  for line in io.lines(path) do
    requests[#requests + 1] = wrk.format(
      "POST", wrk.path, {["Content-Type"] = "application/json"}, line)
  end
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "errors_status": %d, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, ' ..
    '"errors_timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
