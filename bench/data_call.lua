-- wrk script for bench/data_call.py: hands out pre-generated requests and counts the
-- answers that are not 200.
--
-- The requests file (the first script argument) holds one request per line: the path and
-- query, then, for a data call, a tab, the access token, a tab and one DPoP proof signed
-- for that request. Every proof is unique (the server refuses a replayed jti), so the
-- lines are split between wrk's threads and each line is sent at most once; a thread
-- that runs out of lines starts again from its first one, and the replays it then sends
-- are refused and counted as errors, so an exhausted file shows in the figures.
--
-- done() prints one line, "RESULT <json>", that bench/data_call.py reads.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  local count = tonumber(args[2])
  requests = {}
  local line_no = 0
  for line in file:lines() do
    if line_no % count == id then
      local path, token, proof = line:match("^([^\t]+)\t?([^\t]*)\t?([^\t]*)$")
      local headers = {}
      if token ~= "" then
        headers["Authorization"] = "DPoP " .. token
        headers["DPoP"] = proof
      end
      table.insert(requests, wrk.format("GET", path, headers))
    end
    line_no = line_no + 1
  end
  file:close()
  lines = #requests
  cursor = 0
  non_200 = 0
  sent = 0
end

function request()
  cursor = cursor % #requests + 1
  sent = sent + 1
  return requests[cursor]
end

function response(status, headers, body)
  if status ~= 200 then
    non_200 = non_200 + 1
  end
end

function done(summary, latency, requests)
  local errors, sent_total, lines_total = 0, 0, 0
  for _, thread in ipairs(threads) do
    errors = errors + thread:get("non_200")
    sent_total = sent_total + thread:get("sent")
    lines_total = lines_total + thread:get("lines")
  end
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "non_200": %d, "socket_errors": %d, '
      .. '"timeouts": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, "sent": %d, "lines": %d}\n',
    summary.requests,
    summary.duration,
    errors,
    summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout,
    latency:percentile(50),
    latency:percentile(99),
    latency.max,
    sent_total,
    lines_total
  ))
end
