-- Returning users with skewed popularity: Zipf (s = ZIPF_S, default 1.1) over ZIPF_USERS users
-- (z-00000000 …, default 10,000,000), each request asking for every live experiment. Ranks map
-- to ids through a fixed permutation, so popular users are spread over the tables rather than
-- stored side by side. With DELAY_MS each connection waits that long between requests.
--
-- Rejection-inversion sampling (Hörmann & Derflinger, "Rejection-inversion to generate
-- variates from monotone discrete distributions", 1996): exact, O(1) per draw, no table.
dofile(os.getenv("LUA_DIR") .. "/common.lua")
local s = tonumber(os.getenv("ZIPF_S") or "1.1")
local users = tonumber(os.getenv("ZIPF_USERS") or "10000000")
-- Coprime with 10^k (neither 2 nor 5 divides it): k -> k * SPREAD mod users is a permutation.
local SPREAD = 7368787

local function h(x) return math.exp(-s * math.log(x)) end
local function H(x) return (math.exp((1 - s) * math.log(x)) - 1) / (1 - s) end
local function H_inverse(u) return math.exp(math.log(1 + (1 - s) * u) / (1 - s)) end
local H_first = H(1.5) - 1
local H_last = H(users + 0.5)
local shortcut = 2 - H_inverse(H(2.5) - h(2))

local function rank()
    while true do
        local u = H_last + math.random() * (H_first - H_last)
        local x = H_inverse(u)
        local k = math.floor(x + 0.5)
        if k < 1 then k = 1 elseif k > users then k = users end
        if k - x <= shortcut or u >= H(k + 0.5) - h(k) then return k end
    end
end

function request()
    local id = ((rank() - 1) * SPREAD) % users
    return wrk.format(nil, "/api/v1/assign", nil,
        '{"user_id":"z-' .. string.format("%08d", id) .. '","attributes":{"platform":"ios"}}')
end

local pause = tonumber(os.getenv("DELAY_MS") or "0")
if pause > 0 then
    function delay() return pause end
end
