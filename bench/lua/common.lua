-- common.lua: shared by every wrk script of the bench (run.py prepends it): thread bookkeeping,
-- the per-thread error counters and a one-line JSON summary that run.py parses.

local bench_threads = {}

-- Runs in wrk's main Lua state once per thread, before that thread's init().
function setup(thread)
    table.insert(bench_threads, thread)
    thread:set("tid", #bench_threads)
end

tid = 1       -- this thread's number, 1-based (set by setup)
bad = 0       -- answers that are HTTP 200 but wrong (protocol error body, missing field)
exhausted = 0 -- requests issued after the precomputed inputs ran out (each reuses an input)

-- True when body holds needle (plain find, no patterns: cheap).
function bench_has(body, needle)
    return body ~= nil and string.find(body, needle, 1, true) ~= nil
end

-- Reads this thread's share of the lines of path (thread k of n takes lines k, k+n, ...), calls
-- take(line) for each; returns how many lines take accepted (returned true).
function bench_read_share(path, threads, take)
    local f = assert(io.open(path, "r"))
    local line_no, count = 0, 0
    for line in f:lines() do
        line_no = line_no + 1
        if (line_no - 1) % threads == tid - 1 and take(line) then
            count = count + 1
        end
    end
    f:close()
    return count
end

-- The input index after i of count inputs, counting a wrap-around as exhausted (inputs reused).
function bench_next(i, count)
    if i >= count then
        exhausted = exhausted + 1
        return 1
    end
    return i + 1
end

-- Prints "WRKJSON {...}": totals over all threads, latency percentiles in microseconds.
function done(summary, latency, requests)
    local b, ex = 0, 0
    for _, t in ipairs(bench_threads) do
        b = b + (t:get("bad") or 0)
        ex = ex + (t:get("exhausted") or 0)
    end
    local e = summary.errors
    io.write(string.format(
        'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
        '"write":%d,"status":%d,"timeout":%d,"bad":%d,"exhausted":%d,"p50_us":%d,' ..
        '"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
        summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
        e.status, e.timeout, b, ex, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max, latency.mean))
end
