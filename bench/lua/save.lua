-- save.lua: One Stroke saves: POST {base}/session/paints/save, each request a new drawing id
-- (run tag, wrk thread, counter). Args: the path, the session code, a run tag, the actions text
-- already escaped as a JSON string body. A good answer holds "code":0.

local path, headers, prefix, actions = "/", nil, "", ""
local counter = 0

function init(args)
    path = args[1]
    headers = { ["X-WX-Code"] = args[2], ["Content-Type"] = "application/json" }
    prefix = args[3] .. "-" .. tid .. "-"
    actions = args[4]
end

function request()
    counter = counter + 1
    local body = '{"id":"' .. prefix .. counter .. '","actions":"' .. actions .. '"}'
    return wrk.format("POST", path, headers, body)
end

function response(status, headers_in, body)
    if status ~= 200 or not bench_has(body, '"code":0') then
        bad = bad + 1
    end
end
