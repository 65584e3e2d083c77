-- check.lua: verifies every answer of a short run of a fixed request. Args: the substring a good
-- answer holds. An answer is bad when its status is not 200, it lacks the substring, or it holds
-- the weapp-session protocol error key.

local MAGIC = "F2C224D4-2BCE-4C64-AF9F-A6D872000D1A"
local expect = nil

function init(args)
    expect = args[1]
end

function response(status, headers, body)
    if status ~= 200 or not bench_has(body, expect) or bench_has(body, MAGIC) then
        bad = bad + 1
    end
end
