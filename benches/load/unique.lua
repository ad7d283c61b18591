-- wrk script: every request is one never sent before. `-- user-agent <UA>`: the User-Agent
-- is <UA> plus a per-thread counter, so no per-User-Agent decision cache can answer it;
-- `-- query`: the page with a new cache-buster token in the query (letters, digits and
-- `-`: a bare token), the headers those of one browser (distinct requests of the kind
-- real traffic has); `-- search`: the same with a new search text (`q=red+shoes+<tag>`,
-- which a WAF must inspect).
local next_id = 0
function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
end

function init(args)
   mode, ua = args[1], args[2]
   id = wrk.thread:get("id")
   n = 0
end

function request()
   n = n + 1
   local tag = id .. "-" .. n
   if mode == "query" then
      return wrk.format(nil, wrk.path .. "?r=" .. tag)
   end
   if mode == "search" then
      return wrk.format(nil, wrk.path .. "?q=red+shoes+" .. tag)
   end
   return wrk.format(nil, nil, { ["Host"] = wrk.headers["Host"], ["User-Agent"] = ua .. " r/" .. tag })
end
