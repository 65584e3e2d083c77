-- login_token.lua: the token protocol's login: each request POSTs {"code": ...} with a fresh code,
-- every code used exactly once. Args: the inputs file (code first on each line, the same file
-- as login.lua's), the login path ({base}/login), the number of wrk threads (thread k takes
-- lines k, k+n, ...). A good answer is HTTP 200 holding "token" (the new session's token).

local bodies = {}
local count, next_index = 0, 0
local path = "/"
local headers = { ["Content-Type"] = "application/json" }

function init(args)
    path = args[2]
    count = bench_read_share(args[1], tonumber(args[3] or "1"), function(line)
        local c = string.match(line, "^([^\t]+)")
        if c == nil then
            return false
        end
        bodies[count + 1] = '{"code":"' .. c .. '"}'
        count = count + 1
        return true
    end)
end

function request()
    next_index = bench_next(next_index, count)
    return wrk.format("POST", path, headers, bodies[next_index])
end

function response(status, headers_in, body)
    if status ~= 200 or not bench_has(body, '"token"') then
        bad = bad + 1
    end
end
