-- Tracking in batches of 100 events over five event names, each counted by two metrics of
-- the bench-metrics experiment (users from the assigned pool, so every event is attributed).
dofile(os.getenv("LUA_DIR") .. "/common.lua")
local names = {"purchase", "open", "view", "share", "refund"}
function request()
    n = n + 1
    local events = {}
    for i = 1, 100 do
        events[i] = '{"event_id":"' .. run .. "-" .. tid .. "-" .. n .. "-" .. i ..
            '","user_id":"pool-' .. math.random(0, pool - 1) .. '","name":"' ..
            names[math.random(1, 5)] .. '","value":' .. math.random(1, 100) .. '}'
    end
    return wrk.format(nil, "/api/v1/track", nil, '{"events":[' .. table.concat(events, ",") .. "]}")
end
