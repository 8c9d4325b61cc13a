-- Returning users: ids drawn from a pool that the warm-up assigned already, in the
-- experiment $EXPERIMENT (bench-bandit by default).
dofile(os.getenv("LUA_DIR") .. "/common.lua")
local experiment = os.getenv("EXPERIMENT") or "bench-bandit"
function request()
    n = n + 1
    local user = "pool-" .. math.random(0, pool - 1)
    return wrk.format(nil, "/api/v1/assign", nil,
        '{"user_id":"' .. user .. '","attributes":{"platform":"ios"},"experiments":["' .. experiment .. '"]}')
end
