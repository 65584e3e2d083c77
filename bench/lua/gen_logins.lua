-- gen_logins.lua: precomputes logins: asks the simulator for a fresh code + signed rawData
-- (GET /__wxsim/login?user=...) and appends each answer body as one line to a file. Args: how
-- many, how many distinct users, the output file. Prints GENDONE when it has enough (or after
-- 1000 failures: run.py then reports the shortfall); run.py then stops wrk with SIGINT (wrk
-- otherwise waits out its -d duration).

local want, users, out = 0, 1, nil
local issued, got, announced = 0, 0, false

function init(args)
    want = tonumber(args[1])
    users = tonumber(args[2])
    out = assert(io.open(args[3], "w"))
end

function request()
    issued = issued + 1
    return wrk.format("GET", "/__wxsim/login?user=bench-u" .. (issued % users))
end

function response(status, headers, body)
    if status == 200 and bench_has(body, '"signature"') then
        out:write(body, "\n")
        got = got + 1
    else
        bad = bad + 1
    end
    if (got >= want or bad >= 1000) and not announced then
        announced = true
        out:flush()
        io.write("GENDONE\n")
        io.stdout:flush()
        wrk.thread:stop()
    end
end
