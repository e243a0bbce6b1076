-- wrk script of bench/run-http-publish.sh: every request POSTs a SIZE-byte body (env, default 64) to the
-- path given on wrk's URL, over keep-alive connections; at the end, one machine-readable line like the
-- other load generators' RESULT lines (latencies in microseconds).
local size = tonumber(os.getenv("SIZE") or "64")

wrk.method = "POST"
wrk.body = string.rep("x", size)
wrk.headers["Content-Type"] = "application/octet-stream"

-- No response() callback: wrk would then hand every answer to Lua, which costs the client more than the
-- servers it measures. summary.errors.status counts the answers with a status of 400 or more.
done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "RESULT req_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f requests=%d errors=%d non_2xx=%d size=%d duration_s=%.2f\n",
    summary.requests / seconds, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, summary.requests, errors, summary.errors.status, size, seconds))
end
