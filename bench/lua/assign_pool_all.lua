-- Assigns the pool of returning users in every running experiment (to enrol them in an
-- experiment created after the warm-up).
dofile(os.getenv("LUA_DIR") .. "/common.lua")
function request()
    n = n + 1
    local user = "pool-" .. math.random(0, pool - 1)
    return wrk.format(nil, "/api/v1/assign", nil, '{"user_id":"' .. user .. '","attributes":{"platform":"ios"}}')
end
