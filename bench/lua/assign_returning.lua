-- Returning users: ids drawn from a pool that the warm-up assigned already.
dofile(os.getenv("LUA_DIR") .. "/common.lua")
function request()
    n = n + 1
    local user = "pool-" .. math.random(0, pool - 1)
    return wrk.format(nil, "/api/v1/assign", nil,
        '{"user_id":"' .. user .. '","attributes":{"platform":"ios"},"experiments":["bench-bandit"]}')
end
