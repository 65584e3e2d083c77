"""memory.py: the memory check (`make bench-memory`): code-only lookups and RSS with 1k and 1M
sessions in the SQLite store, then a long load sampling RSS every 10 s to show it stays flat."""

import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import threading
import time

from benchlib import (APP_ID, APP_SECRET, BenchError, LoginPool, Supervisor, Wrk, aggregate,
                      http, log, parse_wrk, proc_status, wait_tcp)

PREFIX = "weapp-session:"
SAMPLE_INTERVAL_S = 10
LOGIN_CONNECTIONS = 4  # the login side-load of the long run
LOGIN_LATENCY_MS = 20
LOGIN_SEGMENT_S = 180  # codes expire after 5 minutes: precompute per segment
# The user info a login stores (today's anonymous profile, as the simulator issues it).
USER = {"nickName": "微信用户", "gender": 0, "language": "", "city": "", "province": "",
        "country": "", "avatarUrl": "https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0Kl"
        "MECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132"}
# lib/store_sqlite.c's schema (version 1), written here because the file is filled while
# wxsessiond is stopped.
SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL,
    expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expires_at ON kv(expires_at);
PRAGMA user_version = 1;
"""


def code_of(i):
    """The code of seeded session i; random_codes.lua builds the same string."""
    return f"bench{i:027d}"


def seed_db(path, sessions):
    """Writes a fresh SQLite store holding `sessions` live sessions in the store's own layout:
    per session `weapp-session:<code>` -> user JSON with openId and `weapp-session:<openId>` ->
    the code as a JSON string, both expiring in 30 days (ms epoch)."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    t0 = time.monotonic()
    expires = int(time.time() * 1000) + 30 * 24 * 3600 * 1000
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(SCHEMA)

        def rows():
            for i in range(sessions):
                code = code_of(i)
                openid = f"obench{i:022d}"
                user = dict(USER, openId=openid)
                yield (PREFIX + code, json.dumps(user, ensure_ascii=False,
                                                 separators=(",", ":")), expires)
                yield (PREFIX + openid, json.dumps(code), expires)
        with con:
            con.executemany("INSERT INTO kv(key, value, expires_at) VALUES (?, ?, ?)", rows())
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    size = os.path.getsize(path) / 1048576
    log(f"seeded {sessions:,} sessions into {os.path.basename(path)} "
        f"({size:.0f} MiB) in {time.monotonic() - t0:.1f}s")


class MemoryCheck:
    def __init__(self, args, out_dir, binary):
        self.args = args
        self.bin = binary
        self.dir = os.path.join(out_dir, "memory")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.sup = Supervisor(os.path.join(self.dir, "logs"))
        self.wrk = Wrk(out_dir, args.threads, args.connections)

    def start(self, db, sim_base="http://127.0.0.1:9"):
        """wxsessiond on the SQLite store db (WeChat at sim_base; the default is never called)."""
        proc, m = self.sup.start("wxsessiond-memory", [
            self.bin, "--port=0", f"--workers={self.args.workers}", f"--app-id={APP_ID}",
            "--store=sqlite", f"--sqlite-path={db}", f"--wechat-api-base={sim_base}"],
            env={"WXS_APP_SECRET": APP_SECRET},
            ready=r"listening on 127\.0\.0\.1:(\d+)")
        base = f"http://127.0.0.1:{m.group(1)}"
        wait_tcp(int(m.group(1)), proc)
        status, body = http("GET", base + "/applet/session", headers={"X-WX-Code": code_of(0)})
        if status != 200 or '"openId"' not in body:
            raise BenchError(f"seeded session not found: HTTP {status} {body[:200]}")
        return proc, base

    def size_row(self, sessions):
        db = os.path.join(self.dir, f"sessions-{sessions}.db")
        seed_db(db, sessions)
        proc, base = self.start(db)
        try:
            url = base + "/applet/session"
            a = self.args
            args = ["/applet/session", sessions]
            if a.warmup:
                self.wrk.run(url, a.warmup, script="random_codes", args=args)
            runs = [self.wrk.run(url, a.duration, script="random_codes", args=args)
                    for _ in range(a.runs)]
            st = proc_status(proc.pid)
            row = aggregate(runs)
            row.update({"sessions": sessions, "rss_kb": st.get("VmRSS", 0),
                        "anon_kb": st.get("RssAnon", 0), "hwm_kb": st.get("VmHWM", 0),
                        "db_mib": round(os.path.getsize(db) / 1048576, 1)})
            log(f"  {sessions:,} sessions: {row['rps']:,.0f} req/s, p99 {row['p99_ms']:.2f} ms, "
                f"errors {row['errors']}, RSS {row['rss_kb'] / 1024:.1f} MiB")
            return row
        finally:
            self.sup.stop(proc)

    def load(self, sessions):
        """memory_minutes of load against a fresh server on the big store, RSS every 10 s: wrk
        doing code-only lookups of random codes (64 connections) and, beside it, logins (4
        connections) through a simulator with 20 ms latency, so the login path (WeChat client,
        signature, store writes) runs all along too. Codes live 5 minutes, so the logins run
        in segments of at most LOGIN_SEGMENT_S, each with freshly precomputed codes."""
        db = os.path.join(self.dir, f"sessions-{sessions}.db")
        seconds = max(10, int(self.args.memory_minutes * 60))
        sim, m = self.sup.start("simulator-memory", [
            self.bin, "--simulator-only", "--port=0", "--workers=1", f"--app-id={APP_ID}",
            "--simulator-quota-per-minute=1000000",
            f"--simulator-latency-ms={LOGIN_LATENCY_MS}"], env={"WXS_APP_SECRET": APP_SECRET},
            ready=r"listening on 127\.0\.0\.1:(\d+)")
        sim_base = f"http://127.0.0.1:{m.group(1)}"
        proc, base = self.start(db, sim_base)
        side = LoginSideLoad(self.wrk, LoginPool(self.wrk, sim_base, self.dir),
                             base + "/applet/session", seconds)
        lookups = self.wrk.argv(base + "/applet/session", seconds, "random_codes",
                                args=["/applet/session", sessions])
        samples = []
        t0 = time.monotonic()
        wrk = subprocess.Popen(lookups, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
        side.start()
        out = err = ""
        try:
            while wrk.poll() is None or side.is_alive():
                samples.append(sample(proc.pid, t0))
                deadline = time.monotonic() + SAMPLE_INTERVAL_S
                while time.monotonic() < deadline and (wrk.poll() is None or side.is_alive()):
                    time.sleep(0.2)
            out, err = wrk.communicate()
            time.sleep(2)
            samples.append(sample(proc.pid, t0))
        finally:
            side.cancel()
            stop_wrk(wrk)
            side.join()
            self.sup.stop(proc)
            self.sup.stop(sim)
        if side.error:
            raise BenchError(f"login side-load: {side.error}")
        look = parse_wrk(out, err, wrk.returncode)
        return {"minutes": seconds / 60, "sessions": sessions, "interval_s": SAMPLE_INTERVAL_S,
                "requests": look["requests"], "rps": look["rps"], "errors": look["errors"],
                "login_requests": side.requests, "login_rps": side.requests / seconds,
                "login_errors": side.errors, "login_latency_ms": LOGIN_LATENCY_MS,
                "samples": samples}


class LoginSideLoad(threading.Thread):
    """Back-to-back login runs for `seconds` in all, each segment with fresh codes."""

    def __init__(self, wrk, pool, url, seconds):
        super().__init__(daemon=True)
        self.wrk = wrk
        self.pool = pool
        self.url = url
        self.seconds = seconds
        self.requests = 0
        self.errors = 0
        self.error = None
        self.cancelled = False
        self.current = None

    def run(self):
        t0 = time.monotonic()
        segment = 0
        bound = LOGIN_CONNECTIONS * 1000 // LOGIN_LATENCY_MS
        try:
            while not self.cancelled:
                left = int(self.seconds - (time.monotonic() - t0))
                if left < 5:
                    break
                seg = min(LOGIN_SEGMENT_S, left)
                segment += 1
                codes = self.pool.make(bound * seg + 1000, f"memory-{segment}")
                argv = self.wrk.argv(self.url, seg, "login", args=[codes, "/applet/session", 1],
                                     connections=LOGIN_CONNECTIONS, threads=1)
                self.current = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE, text=True,
                                                start_new_session=True)
                out, err = self.current.communicate()
                if self.cancelled:
                    break
                s = parse_wrk(out, err, self.current.returncode)
                self.requests += s["requests"]
                self.errors += s["errors"]
        except BenchError as e:
            self.error = str(e)

    def cancel(self):
        """Stops the running segment (by its wrk's PID) and the ones to come."""
        self.cancelled = True
        if self.current is not None:
            stop_wrk(self.current)


def sample(pid, t0):
    st = proc_status(pid)
    return {"t": time.monotonic() - t0, "rss_kb": st.get("VmRSS", 0),
            "anon_kb": st.get("RssAnon", 0)}


def stop_wrk(w):
    """Stops a wrk still running (SIGINT by PID, then SIGKILL)."""
    if w.poll() is not None:
        return
    w.send_signal(signal.SIGINT)
    try:
        w.wait(10)
    except subprocess.TimeoutExpired:
        w.kill()
        w.wait()


def flat(samples, key):
    """(first, two_thirds, end) of one RSS series: the first sample after one minute (caches
    warm; a third of the load when shorter), the sample at two thirds of the load, and the mean
    of the last three samples. A leak grows steadily, so the last third must not grow; a cache
    that fills once (SQLite's page caches are bounded) shows as a single step."""
    length = samples[-1]["t"]
    settle = min(60.0, length / 3)
    first = ([s for s in samples if s["t"] >= settle] or samples)[0][key]
    two_thirds = ([s for s in samples if s["t"] >= length * 2 / 3] or samples)[0][key]
    end = statistics.mean(s[key] for s in samples[-3:])
    return first, two_thirds, end


def checks(sizes, load):
    out = []
    ok_rows = [r for r in sizes if "rps" in r]
    if len(ok_rows) == 2:
        small, big = ok_rows
        slow = small["rps"] / big["rps"] if big["rps"] else float("inf")
        out.append((f"code-only lookups, {big['sessions']:,} vs {small['sessions']:,} sessions: "
                    "within 2x", f"{slow:.2f}x slower", slow <= 2.0))
        grow = (big["rss_kb"] - small["rss_kb"]) / 1024
        out.append((f"RSS with {big['sessions']:,} sessions vs {small['sessions']:,}: "
                    "flat (<= +32 MiB)", f"{grow:+.1f} MiB", grow <= 32))
    if load and "samples" in load:
        for key, name in (("rss_kb", "VmRSS"), ("anon_kb", "RssAnon")):
            first, two_thirds, end = flat(load["samples"], key)
            grow = (end - two_thirds) / 1024
            out.append((f"{name} over the last third of the {load['minutes']:g}-minute load: "
                        "flat (grows <= 0.5 MiB)",
                        f"{two_thirds / 1024:.1f} -> {end / 1024:.1f} MiB", grow <= 0.5))
            out.append((f"{name} from the first minute to the end (information)",
                        f"{first / 1024:.1f} -> {end / 1024:.1f} MiB", None))
        total = sum(r.get("errors", 0) for r in ok_rows) + load["errors"] + load["login_errors"]
        out.append(("0 errors", str(total), total == 0 and len(ok_rows) == len(sizes)))
    return out


def run(args, out_dir, binary, meta):
    """The whole memory check; returns the dict report.py renders."""
    m = MemoryCheck(args, out_dir, binary)
    result = {"command": meta["command"], "date": meta["date"], "machine": meta["machine"],
              "wrk": meta["wrk"], "runs": args.runs}
    try:
        sizes = []
        for n in (1000, args.memory_sessions):
            log(f"memory: {n:,} sessions")
            try:
                sizes.append(m.size_row(n))
            except BenchError as e:
                sizes.append({"sessions": n, "failed": str(e)[:300]})
        log(f"memory: {args.memory_minutes:g}-minute load over {args.memory_sessions:,} sessions")
        try:
            load = m.load(args.memory_sessions)
        except BenchError as e:
            load = {"failed": str(e)[:300]}
        result.update({"sizes": sizes, "load": load, "checks": checks(sizes, load)})
    finally:
        m.sup.stop_all()
    return result
