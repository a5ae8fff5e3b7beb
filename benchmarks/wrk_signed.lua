-- wrk script: send requests signed ahead, each once, from a file the benchmark writes.
--
--   wrk -t T -c C -d S -s benchmarks/wrk_signed.lua URL -- REQUESTS_FILE T
--
-- REQUESTS_FILE holds whole HTTP/1.1 requests, each followed by one NUL byte. Thread k of
-- T sends requests k, k + T, k + 2T, ... in order (a fresh nonce each, so none is refused
-- as a replay). A thread that runs out starts again from its first request: the server
-- then answers 401 (replay), wrk counts a non-2xx response and the benchmark refuses the
-- run, so sign more requests than the run can send.

local threads_made = 0

function setup(thread)
  thread:set("id", threads_made)
  threads_made = threads_made + 1
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  local every = tonumber(args[2])
  requests, count, index = {}, 0, 0
  local n = 0
  for request in string.gmatch(data, "(.-)%z") do
    if n % every == id then
      count = count + 1
      requests[count] = request
    end
    n = n + 1
  end
  assert(count > 0, "no requests for thread " .. id)
end

function request()
  index = index % count + 1
  return requests[index]
end
