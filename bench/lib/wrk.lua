-- wrk script of the read benchmark (bench/lib/reads.mjs).
-- BENCH_ID_BASE set: every request reads a different id above it
-- (GET /api/posts/<base+n>), so none can be a cache hit: the uncached origin
-- read. Unset: wrk's own request, the URL given (a cached hit).
-- At the end, one line "WRK_JSON {...}" with exact percentiles (microseconds).
local base = tonumber(os.getenv("BENCH_ID_BASE"))
if base then
  local n = 0
  request = function()
    n = n + 1
    return wrk.format("GET", "/api/posts/" .. (base + n))
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"durationUs":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"min":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
