-- POST /signin with a wrong password for an address nobody has: every attempt costs a hash.
-- Counts the attempts told to come back later (503) apart from the ones checked (422).
local threads = {}
local counter = 0
busy = 0

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  wrk.method = "POST"
  wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

request = function()
  counter = counter + 1
  local body = string.format("csrf_token=%s&email=nobody-%d@example.com&password=wrong+password+here",
    os.getenv("BENCH_CSRF"), counter)
  return wrk.format(nil, nil, nil, body)
end

response = function(status, headers, body)
  if status == 503 then
    busy = busy + 1
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  local refused = 0
  for _, thread in ipairs(threads) do
    refused = refused + thread:get("busy")
  end
  io.write(string.format(
    'JSON {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,"p50":%d,"p99":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, refused,
    latency:percentile(50), latency:percentile(99)))
end
