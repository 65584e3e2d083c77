-- exchange.lua: the simulator's own exchange rate: GET /sns/jscode2session with precomputed
-- codes, each used once. Args: inputs file (code first on each line), appid, secret, wrk thread
-- count. A good answer holds "session_key".

local codes = {}
local count, next_index = 0, 0
local prefix, suffix = "", "&grant_type=authorization_code"

function init(args)
    prefix = "/sns/jscode2session?appid=" .. args[2] .. "&secret=" .. args[3] .. "&js_code="
    count = bench_read_share(args[1], tonumber(args[4] or "1"), function(line)
        local c = string.match(line, "^([^\t]+)")
        if c == nil then
            return false
        end
        codes[count + 1] = c
        count = count + 1
        return true
    end)
end

function request()
    next_index = bench_next(next_index, count)
    return wrk.format("GET", prefix .. codes[next_index] .. suffix)
end

function response(status, headers, body)
    if status ~= 200 or not bench_has(body, '"session_key"') then
        bad = bad + 1
    end
end
