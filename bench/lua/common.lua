-- Shared by the bench scripts: JSON POSTs with the key from $KEY, per-thread counters,
-- and a summary line the bench/run script parses ("COUNT acked=... accepted=...").
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("KEY") or "")

local threads = {}
function setup(thread)
    thread:set("tid", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    n = 0          -- requests made by this thread
    acked = 0      -- 2xx answers
    accepted = 0   -- events the server said it accepted
    failed = 0
    run = os.getenv("RUN") or "r"
    pool = tonumber(os.getenv("POOL") or "5000")
    math.randomseed(os.time() + tid * 7919)
end

function response(status, headers, body)
    if status >= 200 and status < 300 then
        acked = acked + 1
        local a = body and string.match(body, '"accepted":(%d+)')
        if a then accepted = accepted + tonumber(a) end
    else
        failed = failed + 1
    end
end

function done(summary, latency, requests)
    local a, e, f = 0, 0, 0
    for _, t in ipairs(threads) do
        a = a + t:get("acked")
        e = e + t:get("accepted")
        f = f + t:get("failed")
    end
    io.write(string.format("COUNT acked=%d accepted=%d failed=%d\n", a, e, f))
    io.write(string.format("LATENCY p50_us=%d p99_us=%d\n", latency:percentile(50), latency:percentile(99)))
end
