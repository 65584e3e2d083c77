-- random_codes.lua: code-only lookups spread over a seeded session set (memory check): each
-- request asks for a random code "bench" .. 27-digit index below n, as written by run.py. Args:
-- the path, n. A good answer holds "openId".

local path, n = "/", 1
local headers = {}

function init(args)
    path = args[1]
    n = tonumber(args[2])
    math.randomseed(os.time() * 1000 + tid * 7919)
end

function request()
    headers["X-WX-Code"] = string.format("bench%027d", math.random(0, n - 1))
    return wrk.format("GET", path, headers)
end

function response(status, headers_in, body)
    if status ~= 200 or not bench_has(body, '"openId"') then
        bad = bad + 1
    end
end
