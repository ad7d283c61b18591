-- wrk script: every request carries a User-Agent never seen before (the mobile UA plus a
-- per-thread counter), so no per-UA decision cache can answer it.
local next_id = 0
function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
end

function init(args)
   ua = args[1]
   id = wrk.thread:get("id")
   n = 0
end

function request()
   n = n + 1
   return wrk.format(nil, nil, { ["Host"] = wrk.headers["Host"], ["User-Agent"] = ua .. " r/" .. id .. "." .. n })
end
