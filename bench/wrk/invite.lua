-- POST /admin/projects/{id}/invite with a bearer token, a new address every request.
local threads = {}
local counter = 0
local id = 0

setup = function(thread)
  id = id + 1
  thread:set("id", id)
  table.insert(threads, thread)
end

init = function(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
  wrk.headers["Content-Type"] = "application/json"
end

request = function()
  counter = counter + 1
  local body = string.format(
    '{"resourceType":"Practitioner","firstName":"Bench","lastName":"Invite","email":"bench-%s-%d-%d@example.com"}',
    os.getenv("BENCH_RUN"), id, counter)
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,"p50":%d,"p99":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
