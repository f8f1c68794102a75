-- wrk script of the read benchmark (bench/lib/reads.mjs).
-- BENCH_ID_BASE set: every request reads a different id above it
-- (GET /api/posts/<base+n>), so none can be a cache hit: the uncached origin
-- read. Unset: the URL given (a cached hit). BENCH_ID_PATH: the path the
-- ids are appended to (default /api/posts/; the origin rows read
-- /v1/products/<id> of the stand-in origin).
-- BENCH_REGIONS (a comma list) and BENCH_REGION_HEADER set (polycache's edge
-- tier with EDGE_REGION_HEADER): the requests take the regions in turn, so
-- that they spread evenly over the regions' Edges; the requests of a hit are
-- then formatted once, at the start, one per region. Unset: wrk's own
-- request, as before the edge tier.
-- At the end, one line "WRK_JSON {...}" with exact percentiles (microseconds).
local base = tonumber(os.getenv("BENCH_ID_BASE"))
local id_path = os.getenv("BENCH_ID_PATH") or "/api/posts/"
local header = os.getenv("BENCH_REGION_HEADER")
local regions = {}
for r in string.gmatch(os.getenv("BENCH_REGIONS") or "", "[^,]+") do
  regions[#regions + 1] = r
end
if header == nil or header == "" then regions = {} end

local function headers_for(n)
  if #regions == 0 then return nil end
  local h = {}
  for k, v in pairs(wrk.headers) do h[k] = v end
  h[header] = regions[(n % #regions) + 1]
  return h
end

if base then
  local n = 0
  request = function()
    n = n + 1
    return wrk.format("GET", id_path .. (base + n), headers_for(n))
  end
elseif #regions > 0 then
  local prebuilt = nil
  local n = 0
  request = function()
    if prebuilt == nil then
      prebuilt = {}
      for i = 1, #regions do prebuilt[i] = wrk.format(nil, nil, headers_for(i - 1)) end
    end
    n = n + 1
    return prebuilt[(n % #regions) + 1]
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
