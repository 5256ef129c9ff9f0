-- count.lua - wrk script for bench_reload.sh: counts, per wrk thread, the
-- requests written (request()) and the responses read (response()), so that
-- "sent but never answered" can be told apart from wrk's own counters.
--
-- With the default pipeline depth of 1, a connection has at most one request
-- outstanding; when wrk stops (-d elapsed), each connection may still have
-- one request in flight, so per thread   sent - recv <= connections of that
-- thread   unless requests were lost. done() prints machine-readable lines:
--
--   RELOADBENCH thread <id> sent <n> recv <n> non2xx <n>
--   RELOADBENCH total sent <n> recv <n> non2xx <n> complete <n> threads <n>
--
-- ("complete" is wrk's own count of responses; it must equal recv.)

local threads = {}

function setup(thread)
   thread:set("id", #threads + 1)
   table.insert(threads, thread)
end

local req

function init(args)
   sent, recv, non2xx = 0, 0, 0
   req = wrk.format()          -- wrk.method/path/headers from the URL
end

function request()
   sent = sent + 1
   return req
end

function response(status, headers, body)
   recv = recv + 1
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   end
end

function done(summary, latency, requests)
   local s, r, n = 0, 0, 0
   for _, t in ipairs(threads) do
      local ts, tr, tn = t:get("sent") or 0, t:get("recv") or 0, t:get("non2xx") or 0
      io.write(string.format("RELOADBENCH thread %d sent %d recv %d non2xx %d\n",
                             t:get("id"), ts, tr, tn))
      s, r, n = s + ts, r + tr, n + tn
   end
   io.write(string.format("RELOADBENCH total sent %d recv %d non2xx %d complete %d threads %d\n",
                          s, r, n, summary.requests, #threads))
end
