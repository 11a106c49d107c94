-- POST /admin/projects/{id}/invite with a bearer token, a new address every request.
-- `thread_number` is a global: setup() runs in the main script and sets it in each thread's.
local counter = 0
local threads_started = 0
thread_number = 0

setup = function(thread)
  threads_started = threads_started + 1
  thread:set("thread_number", threads_started)
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
    os.getenv("BENCH_RUN"), thread_number, counter)
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,"p50":%d,"p99":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
