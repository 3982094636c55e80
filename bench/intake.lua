-- wrk script: POST /api/v1/stores with a unique name per request; counts 202s.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1] or "w"
  token = os.getenv("BENCH_TOKEN")
  accepted = 0
  others = 0
end

request = function()
  counter = counter + 1
  local body = string.format('{"name":"%s-%d-%d","engine":"woocommerce"}', prefix, id, counter)
  return wrk.format("POST", "/api/v1/stores",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end

response = function(status, headers, body)
  if status == 202 then accepted = accepted + 1 else others = others + 1 end
end

done = function(summary, latency, requests)
  local a, o = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    o = o + t:get("others")
  end
  io.write(string.format('{"accepted":%d,"other_status":%d,"requests":%d,"seconds":%.2f,"rps":%.1f,' ..
    '"p50_ms":%.2f,"p99_ms":%.2f,"errors":%d}\n',
    a, o, summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
