-- exchange.lua: the simulator's own exchange rate: GET /sns/jscode2session with precomputed
-- codes, each used once. Args: inputs file (code first on each line), appid, secret, wrk thread
-- count. A good answer holds "session_key".

local codes = {}
local count, next_index = 0, 0
local prefix, suffix = "", "&grant_type=authorization_code"

function init(args)
    local threads = tonumber(args[4] or "1")
    local f = assert(io.open(args[1], "r"))
    local line_no = 0
    prefix = "/sns/jscode2session?appid=" .. args[2] .. "&secret=" .. args[3] .. "&js_code="
    for line in f:lines() do
        line_no = line_no + 1
        if (line_no - 1) % threads == tid - 1 then
            local c = string.match(line, "^([^\t]+)")
            if c ~= nil then
                count = count + 1
                codes[count] = c
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
    return wrk.format("GET", prefix .. codes[next_index] .. suffix)
end

function response(status, headers, body)
    if status ~= 200 or not bench_has(body, '"session_key"') then
        bad = bad + 1
    end
end
