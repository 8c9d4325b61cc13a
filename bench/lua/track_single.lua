-- Tracking one event per request.
dofile(os.getenv("LUA_DIR") .. "/common.lua")
function request()
    n = n + 1
    return wrk.format(nil, "/api/v1/track", nil,
        '{"events":[{"event_id":"' .. run .. "-" .. tid .. "-" .. n ..
        '","user_id":"pool-' .. math.random(0, pool - 1) .. '","name":"purchase"}]}')
end
