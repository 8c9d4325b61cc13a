-- New users: every request a user never seen, so every answer waits for a durable insert.
dofile(os.getenv("LUA_DIR") .. "/common.lua")
function request()
    n = n + 1
    return wrk.format(nil, "/api/v1/assign", nil,
        '{"user_id":"' .. run .. "-" .. tid .. "-" .. n .. '","attributes":{"platform":"ios"},"experiments":["bench-bandit"]}')
end
