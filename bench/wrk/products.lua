-- products.lua: wrk script of bench/http.sh. Each request asks for the next
-- product id, cycling over 1..IDS (env, default 1000), so the server answers
-- from a warm cache of IDS entries, not from one hot key. At the end it prints
-- one machine-readable line:
--
--   RESULT requests=… duration_us=… p50_us=… p99_us=… non2xx=… socket_errors=…
--
-- Use it with one thread (-t1): the counter is per thread.
local ids = tonumber(os.getenv("IDS") or "1000")
local i = 0

request = function()
  i = i % ids + 1
  return wrk.format("GET", "/api/products/" .. i)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
