-- The baseline: the cheapest route the server has.
dofile(os.getenv("LUA_DIR") .. "/common.lua")
wrk.method = "GET"
function request()
    n = n + 1
    return wrk.format("GET", "/healthz")
end
