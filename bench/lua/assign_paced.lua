-- Returning users at a fixed pace: each connection waits DELAY_MS between requests, so
-- connections x 1000 / DELAY_MS sets the offered load; wrk then reports latency at that load.
dofile(os.getenv("LUA_DIR") .. "/assign_returning.lua")
local pause = tonumber(os.getenv("DELAY_MS") or "10")
function delay()
    return pause
end
