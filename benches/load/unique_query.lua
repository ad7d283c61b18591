-- wrk script: every request asks for the page with a query string never sent before (a
-- per-thread counter), the headers staying those of one browser: distinct requests of the
-- kind real traffic has, where a per-request verdict cannot be reused but the User-Agent's
-- decisions can.
local next_id = 0
function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
end

function init(args)
   id = wrk.thread:get("id")
   n = 0
end

function request()
   n = n + 1
   return wrk.format(nil, wrk.path .. "?r=" .. id .. "." .. n)
end
