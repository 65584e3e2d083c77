-- login.lua: the login path: each request carries a fresh code, its percent-encoded rawData and
-- signature, every code used exactly once. Args: the inputs file (code TAB rawData TAB signature
-- per line, made by run.py), the path, the number of wrk threads (thread k takes lines k, k+n,
-- ...). A good answer is HTTP 200 holding "openId" (the logged-in user).

local codes, raws, sigs = {}, {}, {}
local count, next_index = 0, 0
local path = "/"

function init(args)
    path = args[2]
    count = bench_read_share(args[1], tonumber(args[3] or "1"), function(line)
        local c, r, s = string.match(line, "^([^\t]+)\t([^\t]+)\t([^\t]+)$")
        if c == nil then
            return false
        end
        codes[count + 1], raws[count + 1], sigs[count + 1] = c, r, s
        count = count + 1
        return true
    end)
end

function request()
    next_index = bench_next(next_index, count)
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
