-- login.lua: the login path: each request carries a fresh code, its percent-encoded rawData and
-- signature, every code used exactly once. Args: the inputs file (code TAB rawData TAB signature
-- per line, made by run.py), the path, the number of wrk threads (thread k takes lines k, k+n,
-- ...). A good answer is HTTP 200 holding "openId" (the logged-in user).

local codes, raws, sigs = {}, {}, {}
local count, next_index = 0, 0
local path = "/"

function init(args)
    local threads = tonumber(args[3] or "1")
    local f = assert(io.open(args[1], "r"))
    local line_no = 0
    path = args[2]
    for line in f:lines() do
        line_no = line_no + 1
        if (line_no - 1) % threads == tid - 1 then
            local c, r, s = string.match(line, "^([^\t]+)\t([^\t]+)\t([^\t]+)$")
            if c ~= nil then
                count = count + 1
                codes[count], raws[count], sigs[count] = c, r, s
            end
        end
    end
    f:close()
end

function request()
    next_index = next_index + 1
    if next_index > count then
        exhausted = exhausted + 1
        next_index = 1
    end
    return wrk.format("GET", path, {
        ["X-WX-Code"] = codes[next_index],
        ["X-WX-RawData"] = raws[next_index],
        ["X-WX-Signature"] = sigs[next_index],
    })
end

function response(status, headers, body)
    if status ~= 200 or not bench_has(body, '"openId"') then
        bad = bad + 1
    end
end
