"""test_sentinel.py: wxsessiond on a Sentinel-managed Redis pair (Debian's redis-server and
redis-sentinel): a primary, a replica and 3 Sentinels on loopback. Under a steady load of logins
and code-only lookups, a planned failover (SENTINEL FAILOVER) and then a kill -9 of the primary:
every login the server acknowledged is on the final primary, failures are clean 503s during the
switches only, and service comes back after Sentinel's announcement without a restart. Also
what WAIT (redis.waitReplicas) does: a write no replica has is failed (503), and what it adds to
a login's latency. The figures measured are printed, not asserted (durations flake).
"""
import json
import random
import signal
import statistics
import threading
import time
import unittest

from harness import Server, Simulator, login_headers, require_program, wait_until
from redis_ha import HANG_GUARD, MASTER, RedisNode, Resp, SentinelPair, call

PREFIX = "weapp-session:"
LOAD_THREADS = 4
SETTLED_RUN = 40  # consecutive successes after a switch that end it
STORE_DOWN = '{"error":{"code":"ERR_STORE_UNAVAILABLE","message":"session store unavailable"}}'


class SwitchWatcher:
    """Subscribes to +switch-master on every Sentinel: when each announced which primary."""

    def __init__(self, sentinels):
        self.events = []  # (monotonic time, sentinel port, new primary port)
        self.lock = threading.Lock()
        self.conns = []
        self.threads = []
        for s in sentinels:
            conn = Resp(s.port, timeout=None)
            conn.call("SUBSCRIBE", "+switch-master")
            self.conns.append(conn)
            t = threading.Thread(target=self._run, args=(conn, s.port), daemon=True)
            t.start()
            self.threads.append(t)

    def _run(self, conn, port):
        try:
            while True:
                msg = conn.read()
                if isinstance(msg, list) and msg[0] == b"message":
                    fields = msg[2].decode().split()
                    if fields[0] == MASTER:
                        with self.lock:
                            self.events.append((time.monotonic(), port, int(fields[4])))
        except (OSError, ConnectionError, ValueError):
            pass

    def first_since(self, since):
        """The first announcement after since: (time, new primary port), or None."""
        with self.lock:
            later = [e for e in self.events if e[0] >= since]
        return (later[0][0], later[0][2]) if later else None

    def close(self):
        for c in self.conns:
            c.close()
        for t in self.threads:
            t.join(5)


class Load:
    """LOAD_THREADS threads: a login as a new user, then a code-only lookup of one of the
    thread's acknowledged logins, again and again. Each request is logged as (start, end, kind,
    status, body); acknowledged logins (200 with the user) as code -> openId."""

    def __init__(self, server, sim):
        self.server, self.sim = server, sim
        self.log = []
        self.acked = {}
        self.wrong = []  # answers that are neither right nor a clean 503
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(LOAD_THREADS)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(30)

    def _record(self, entry):
        with self.lock:
            self.log.append(entry)

    def _run(self, n):
        mine = []
        i = 0
        while not self.stopping.is_set():
            i += 1
            creds = self.sim.login(f"load-{n}-{i}")
            start = time.monotonic()
            status, _, body = self.server.request("GET", "/applet/session", login_headers(creds))
            end = time.monotonic()
            body = body.decode()
            self._record((start, end, "login", status, body))
            if status == 200:
                user = json.loads(body)["wxUserInfo"]
                if user is None or user.get("openId") != creds["openid"]:
                    self.wrong.append(("login", status, body))
                else:
                    with self.lock:
                        self.acked[creds["code"]] = creds["openid"]
                    mine.append(creds)
            elif (status, body) != (503, STORE_DOWN):
                self.wrong.append(("login", status, body))
            if not mine:
                continue
            creds = random.choice(mine)
            start = time.monotonic()
            status, _, body = self.server.request("GET", "/applet/session",
                                                  {"X-WX-Code": creds["code"]})
            end = time.monotonic()
            body = body.decode()
            self._record((start, end, "lookup", status, body))
            ok = status == 200 and json.loads(body)["wxUserInfo"] is not None and \
                json.loads(body)["wxUserInfo"].get("openId") == creds["openid"]
            if not ok and (status, body) != (503, STORE_DOWN):
                self.wrong.append(("lookup", status, body))

    def entries(self, since=0.0, until=float("inf")):
        with self.lock:
            return sorted(e for e in self.log if since <= e[0] < until)

    @staticmethod
    def ok(e):
        return e[3] == 200

    def settled_since(self, since):
        """When a run of SETTLED_RUN successes (by start time) began after since, or None."""
        run_start, run = None, 0
        for e in self.entries(since):
            if self.ok(e):
                run_start = e[0] if run == 0 else run_start
                run += 1
                if run >= SETTLED_RUN:
                    return run_start
            else:
                run = 0
        return None


class SentinelFailover(unittest.TestCase):
    def setUp(self):
        require_program(self, "redis-server", "redis-server")
        sentinel = require_program(self, "redis-sentinel", "redis-sentinel")
        self.procs = []
        self.servers = []
        self.addCleanup(self.stop_all)
        self.sim = Simulator()
        self.procs.append(self.sim)
        pair = SentinelPair(sentinel)
        self.procs += pair.procs()
        self.pair, self.nodes, self.sentinels = pair, pair.nodes, pair.sentinels

    def stop_all(self):
        """Stop what the test started, by PID; wxsessiond must exit 0 (graceful, no sanitizer
        report)."""
        statuses = [(s.stop(), s.output()) for s in self.servers]
        for p in reversed(self.procs):
            p.cleanup()
        for status, log in statuses:
            self.assertEqual(status, 0, f"wxsessiond exited with {status}:\n{log[-3000:]}")

    # ---- helpers
    def sentinel_list(self):
        return self.pair.sentinel_list()

    def start_server(self, **redis):
        cfg = {"store": "redis",
               "redis": dict({"sentinels": self.sentinel_list(), "masterName": MASTER,
                              "timeoutMs": 500}, **redis),
               "wechat": {"apiBase": self.sim.base, "timeoutMs": 2000, "connectTimeoutMs": 1000}}
        server = Server(cfg, env={"WXS_LOG_LEVEL": "info"})
        self.procs.append(server)
        self.servers.append(server)
        return server

    def primary_port(self):
        return self.pair.primary_port()

    def wait_replicated(self, primary_port):
        self.pair.wait_replicated(primary_port)

    def login(self, server, user):
        creds = self.sim.login(user)
        start = time.monotonic()
        status, _, body = server.request("GET", "/applet/session", login_headers(creds))
        return status, body.decode(), time.monotonic() - start, creds

    def switch(self, load, watcher, trigger, what):
        """Run trigger() under load; wait for Sentinel's announcement, the first login served
        after it and a settled run; return the switch's figures."""
        old_port = self.primary_port()
        triggered = time.monotonic()
        trigger()
        wait_until(lambda: watcher.first_since(triggered) is not None,
                   f"{what}: Sentinel announces a new primary", timeout=HANG_GUARD)
        announced, new_port = watcher.first_since(triggered)
        settle_from = announced
        if what == "kill -9":
            # the operator brings the old primary back, as a replica of the new one
            node = RedisNode(port=self.killed_port, replicaof=new_port)
            self.nodes[node.port] = node
            self.procs.append(node)

        def served_login():
            return any(load.ok(e) and e[2] == "login" for e in load.entries(announced))
        wait_until(served_login, f"{what}: a login served after the announcement",
                   timeout=HANG_GUARD)
        first_ok = min(e[1] for e in load.entries(announced) if load.ok(e) and e[2] == "login")
        if what != "kill -9":
            # a planned failover ends when Sentinel has made the old primary a replica of the
            # new one (its connections then see READONLY once): the switch lasts until then
            def demoted():
                try:
                    role = call(old_port, "ROLE")
                except (OSError, ConnectionError):
                    return False
                return role[0] == b"slave" and role[3] == b"connected"
            wait_until(demoted, f"{what}: the old primary a replica again", timeout=HANG_GUARD)
            settle_from = time.monotonic()
        wait_until(lambda: load.settled_since(settle_from) is not None,
                   f"{what}: a run of {SETTLED_RUN} successes", timeout=HANG_GUARD)
        settled = load.settled_since(settle_from)
        during = load.entries(triggered, settled)
        errors = [e for e in during if not load.ok(e)]
        return dict(switch=what, triggered=triggered, settled=settled, new_primary=new_port,
                    requests=len(during), errors=len(errors),
                    login_errors=len([e for e in errors if e[2] == "login"]),
                    announce_after_trigger_ms=round((announced - triggered) * 1000),
                    first_login_after_announce_ms=round((first_ok - announced) * 1000),
                    last_error_after_announce_ms=round(
                        (max([e[1] for e in errors], default=announced) - announced) * 1000))

    # ---- the cases
    def test_failover_and_kill_under_load(self):
        """A planned failover, then kill -9 of the new primary, under load: every acknowledged
        login is on the final primary; errors are clean 503s, within the switches only."""
        server = self.start_server()
        watcher = SwitchWatcher(self.sentinels)
        load = Load(server, self.sim)
        load.start()
        figures = []
        try:
            wait_until(lambda: len(load.acked) >= 50, "the load is served", timeout=HANG_GUARD)
            steady_end = time.monotonic()
            figures.append(self.switch(
                load, watcher,
                lambda: call(self.sentinels[0].port, "SENTINEL", "failover", MASTER),
                "planned failover"))
            self.wait_replicated(self.primary_port())

            def kill_primary():
                self.killed_port = self.primary_port()
                self.nodes[self.killed_port].kill()  # SIGKILL, by PID
            figures.append(self.switch(load, watcher, kill_primary, "kill -9"))
            wait_until(lambda: len(load.entries(figures[-1]["settled"])) >= 200,
                       "requests after the last switch", timeout=HANG_GUARD)
        finally:
            load.stop()
            watcher.close()
        # errors outside the switches: before the first, between them, after the last
        outside = [e for e in load.entries(0, steady_end) if not load.ok(e)]
        # (a request that was under way when the second switch began belongs to that switch)
        outside += [e for e in load.entries(figures[0]["settled"], figures[1]["triggered"])
                    if not load.ok(e) and e[1] < figures[1]["triggered"]]
        outside += [e for e in load.entries(figures[1]["settled"]) if not load.ok(e)]
        # every acknowledged login is on the final primary
        final = self.primary_port()
        conn = Resp(final)
        try:
            codes = list(load.acked)
            for code in codes:
                conn.send("GET", PREFIX + code)
            found = 0
            missing = []
            for code in codes:
                value = conn.read()
                if value is not None and json.loads(value).get("openId") == load.acked[code]:
                    found += 1
                else:
                    missing.append(code)
        finally:
            conn.close()
        logins = [e for e in load.entries() if e[2] == "login"]
        print(f"\nsentinel figures: logins attempted {len(logins)}, acknowledged "
              f"{len(load.acked)}, found on the final primary (:{final}) {found}, lost "
              f"{len(missing)}; requests {len(load.entries())}")
        for f in figures:
            print("  " + ", ".join(f"{k} {v}" for k, v in f.items()
                                   if k not in ("triggered", "settled")) +
                  f", settled_after_trigger_ms {round((f['settled'] - f['triggered']) * 1000)}")
        self.assertEqual(load.wrong, [], "only right answers and clean 503s")
        self.assertEqual([(round((e[0] - figures[0]["triggered"]) * 1000), e[2:4])
                          for e in outside],
                         [], "errors only during the switches (ms after the first trigger)\n" +
                         "\n".join(l for l in server.output().splitlines()
                                   if " access " not in l and " login " not in l)[-6000:])
        self.assertEqual(missing, [], "acknowledged logins lost by the failovers")
        log = server.output()
        self.assertIn("Sentinel switched the primary", log)

    def test_wait_fails_writes_no_replica_has(self):
        """waitReplicas: the default (1 with Sentinel) acknowledges a login only once the
        replica has it: with the replica stopped, logins are 503 while waitReplicas=0 still
        acknowledges them. Prints what WAIT adds to a login's latency (medians)."""
        waiting = self.start_server()
        plain = self.start_server(waitReplicas=0)
        rounds = 100
        times = {"wait": [], "nowait": []}
        for i in range(rounds):
            for name, server in (("wait", waiting), ("nowait", plain)):
                status, body, took, creds = self.login(server, f"lat-{name}-{i}")
                self.assertEqual(status, 200, body)
                times[name].append(took)
        primary = self.primary_port()
        replica = next(p for p in self.nodes if p != primary)
        self.nodes[replica].proc.send_signal(signal.SIGSTOP)  # SIGSTOP: the replica stops acknowledging
        try:
            status, body, _, creds = self.login(waiting, "no-replica-wait")
            self.assertEqual((status, body), (503, STORE_DOWN))
            status, body, _, creds2 = self.login(plain, "no-replica-nowait")
            self.assertEqual(status, 200, body)
        finally:
            self.nodes[replica].proc.send_signal(signal.SIGCONT)  # SIGCONT
        # the failed write's outcome is unknown: it may be on the primary, never acknowledged
        wait_until(lambda: self.login(waiting, "after-cont")[0] == 200,
                   "logins acknowledged once the replica is back", timeout=HANG_GUARD)
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(f"\nWAIT figures: median login latency over {rounds} logins: waitReplicas=1 "
              f"{med['wait']:.2f} ms, waitReplicas=0 {med['nowait']:.2f} ms, WAIT adds "
              f"{med['wait'] - med['nowait']:.2f} ms")
        self.assertIn("replicas acknowledged it", waiting.output())


if __name__ == "__main__":
    unittest.main()
