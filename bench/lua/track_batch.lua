-- Tracking in batches of 100 events (users from the assigned pool, so attribution runs).
dofile(os.getenv("LUA_DIR") .. "/common.lua")
function request()
    n = n + 1
    local events = {}
    for i = 1, 100 do
        events[i] = '{"event_id":"' .. run .. "-" .. tid .. "-" .. n .. "-" .. i ..
            '","user_id":"pool-' .. math.random(0, pool - 1) .. '","name":"purchase","value":9.99}'
    end
    return wrk.format(nil, "/api/v1/track", nil, '{"events":[' .. table.concat(events, ",") .. "]}")
end
