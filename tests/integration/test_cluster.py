"""test_cluster.py: the Redis session store on a real Redis Cluster (Debian's redis-server, 3
primaries + 3 replicas on loopback): the whole session suite (tests/integration/test_session.py's
cases) against it, and a primary killed (kill -9) under a steady load of logins and lookups:
every acknowledged login is readable afterwards (on the promoted replica), the others failed to
the client (503), and service comes back after the cluster's own failover. The figures
measured are printed.
"""
import json
import subprocess
import threading
import time
import unittest

from harness import Server, Simulator, login_headers, wait_until
from redis_ha import cluster_or_skip, key_slot
from test_session import EXPIRED, SessionProtocol


class SessionsOnCluster(SessionProtocol, unittest.TestCase):
    """Every case of the session suite, on store redis with redis.cluster."""
    store = "redis"

    @classmethod
    def start_store(cls):
        try:
            cls.cluster = cluster_or_skip(cls, cls.procs)
        except Exception:
            for p in reversed(cls.procs):  # tearDownClass does not run after this
                p.cleanup()
            raise
        cls.procs.append(cls.cluster)

    @classmethod
    def store_config(cls):
        return {"redis": {"cluster": cls.cluster.seeds()}}

    def assert_store_layout(self, creds):
        value = self.cluster.get("weapp-session:" + creds["code"])
        self.assertEqual(json.loads(value)["openId"], creds["openid"])
        self.assertEqual(self.cluster.get("weapp-session:" + creds["openid"]),
                         json.dumps(creds["code"]))

    def test_slots_match_redis(self):
        for key in ("foo", "weapp-session:abc", "{user1000}.following", "foo{{bar}}zap",
                    "foo{}{bar}", "foo{bar}{zap}"):
            self.assertEqual(int(self.cluster.nodes[0].cli("CLUSTER", "KEYSLOT", key)),
                             key_slot(key), key)

    def test_logins_spread_over_the_primaries_and_wait_for_replicas(self):
        # users whose code and openId keys live on different primaries: the login is not one
        # script, and every session write waits for a replica (WAIT 1, the default)
        seen = set()
        for i in range(12):
            creds = self.login(f"spread-{i}")
            status, _, body = self.get_session(login_headers(creds))
            self.assertEqual(status, 200, body)
            self.assert_store_layout(creds)
            seen.add((self.cluster.owner(key_slot("weapp-session:" + creds["code"])).port,
                      self.cluster.owner(key_slot("weapp-session:" + creds["openid"])).port))
        self.assertTrue(any(a != b for a, b in seen), "code and openId on different primaries")
        waits = sum(int(p.info("commandstats").get("cmdstat_wait", "calls=0").split(",")[0]
                        .split("=")[1]) for p in self.cluster.primaries())
        self.assertGreater(waits, 0, "session writes are acknowledged after WAIT")

    def test_relogin_many_times_leaves_one_session(self):
        codes = []
        for _ in range(6):
            creds = self.login("serial")
            self.assertEqual(self.get_session(login_headers(creds))[0], 200)
            codes.append(creds["code"])
        for code in codes[:-1]:
            self.assertEqual(self.get_session({"X-WX-Code": code})[2], EXPIRED)
        self.assertEqual(self.get_session({"X-WX-Code": codes[-1]})[0], 200)
        self.assertEqual(self.cluster.get("weapp-session:" + creds["openid"]),
                         json.dumps(codes[-1]))

    def test_concurrent_relogins_of_one_user_leave_one_session(self):
        # two devices of one user log in at once, many times: whatever the interleaving of the
        # ordered writes, exactly one of the codes stays a session, the one the pointer names
        for round_ in range(5):
            creds = [self.login("twins") for _ in range(4)]
            answers = [None] * len(creds)

            def one(i):
                answers[i] = self.get_session(login_headers(creds[i]))[0]

            threads = [threading.Thread(target=one, args=(i,)) for i in range(len(creds))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(answers, [200] * len(creds))
            live = [c["code"] for c in creds
                    if self.get_session({"X-WX-Code": c["code"]})[2] != EXPIRED]
            pointer = json.loads(self.cluster.get("weapp-session:" + creds[0]["openid"]))
            self.assertEqual(live, [pointer], f"round {round_}: one live session")


class PrimaryKilledUnderLoad(unittest.TestCase):
    """kill -9 of a primary while logins and lookups run: acknowledged logins survive (on the
    promoted replica), failed ones were answered 503, service comes back."""

    def setUp(self):
        self.procs = []
        self.cluster = cluster_or_skip(self, self.procs)
        self.procs.append(self.cluster)
        self.sim = Simulator()
        self.procs.append(self.sim)
        self.server = Server({"store": "redis", "redis": {"cluster": self.cluster.seeds(),
                                                          "timeoutMs": 1000},
                              "wechat": {"apiBase": self.sim.base}}, workers=2)
        self.procs.append(self.server)

    def tearDown(self):
        status = self.server.stop()
        log = self.server.output()
        for p in reversed(self.procs):
            p.cleanup()
        self.assertEqual(status, 0, log[-3000:])

    def run_load(self, stop, events, lock):
        """Until stop: a login of a new user, then a lookup of this thread's last acknowledged
        login, a few milliseconds apart. Each answer is recorded as (start, end, kind, status,
        creds); status -1 stands for a 200 with the wrong user (never expected)."""
        def worker(w):
            k, last_ok = 0, None
            while not stop.is_set():
                creds = self.sim.login(f"load-{w}-{k}")
                k += 1
                t = time.monotonic()
                status, _, body = self.server.request("GET", "/applet/session",
                                                      login_headers(creds))
                if status == 200 and json.loads(body)["wxUserInfo"] is None:
                    status = -1
                with lock:
                    events.append((t, time.monotonic(), "login", status, creds))
                last_ok = creds if status == 200 else last_ok
                if last_ok is not None:
                    t = time.monotonic()
                    status, _, body = self.server.request("GET", "/applet/session",
                                                          {"X-WX-Code": last_ok["code"]})
                    if status == 200 and last_ok["openid"] not in body.decode():
                        status = -1
                    with lock:
                        events.append((t, time.monotonic(), "lookup", status, last_ok))
                time.sleep(0.005)

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        return threads

    def slot_owners(self):
        """{slot: port of its primary} from CLUSTER NODES, asked of a live node."""
        live = next(n for n in self.cluster.nodes if n.proc.poll() is None)
        owners = {}
        for line in live.cli("CLUSTER", "NODES").splitlines():
            fields = line.split()
            if "master" not in fields[2] or "fail" in fields[2]:
                continue
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            for r in fields[8:]:
                first, _, last = r.partition("-")
                if first.isdigit():
                    owners.update((s, port) for s in range(int(first), int(last or first) + 1))
        return owners

    def stored_records(self, creds_list, owners):
        """The stored record of each login's code ("" for a missing key), read on the primary
        that owns its slot now, one redis-cli per primary."""
        by_port = {}
        for i, c in enumerate(creds_list):
            port = owners[key_slot("weapp-session:" + c["code"])]
            by_port.setdefault(port, []).append(i)
        records = [None] * len(creds_list)
        for port, indexes in by_port.items():
            script = "".join(f"GET weapp-session:{creds_list[i]['code']}\n" for i in indexes)
            out = subprocess.run(["redis-cli", "-p", str(port)], input=script.encode(),
                                 capture_output=True, check=True, timeout=60)
            for i, line in zip(indexes, out.stdout.decode().split("\n")):
                records[i] = line
        return records

    def test_kill_primary_under_load(self):
        lock = threading.Lock()
        events = []
        stop = threading.Event()
        threads = self.run_load(stop, events, lock)
        try:
            wait_until(lambda: len(events) >= 200, "200 answers under load before the kill")
            victim = self.cluster.nodes[0]
            self.assertEqual(victim.info("replication")["role"], "master")
            replica = next(n for n in self.cluster.nodes
                           if n.info("replication").get("master_port") == str(victim.port))
            t_kill = time.monotonic()
            victim.kill()  # SIGKILL
            wait_until(lambda: replica.info("replication")["role"] == "master",
                       "the replica promoted by the cluster", 30)
            t_promoted = time.monotonic()
            # the killed node comes back (as a supervisor would restart it) and rejoins as the
            # new primary's replica: WAIT 1 can be satisfied again for its slots
            victim.restart()
            wait_until(lambda: replica.info("replication").get("connected_slaves") == "1" and
                       "state=online" in replica.info("replication").get("slave0", ""),
                       "the old primary back as a replica", 30)
            t_rejoined = time.monotonic()
            recovered_at = []

            def recovered():  # 30 answers in a row without an error, all started after the kill
                with lock:
                    run = []
                    for e in sorted(events):
                        if e[0] > t_kill:
                            run = run + [e] if e[3] == 200 else []
                            if len(run) == 30:
                                recovered_at.append(run[0][0])
                                return True
                return False

            wait_until(recovered, "30 answers in a row without an error after the kill", 30)
            t_recovered = recovered_at[0]
            time.sleep(1.0)  # a steady phase after recovery: no error expected in it
        finally:
            stop.set()
            for t in threads:
                t.join()

        events.sort()
        before = [e for e in events if e[1] < t_kill]
        during = [e for e in events if e[1] >= t_kill and e[0] < t_recovered]
        after = [e for e in events if e[0] >= t_recovered]
        acknowledged = [e[4] for e in events if e[2] == "login" and e[3] == 200]
        failed = [e for e in events if e[2] == "login" and e[3] != 200]
        owners = self.slot_owners()
        victim_slots = {slot for slot, port in owners.items() if port == replica.port}
        on_victim = [e for e in events if e[2] == "login" and
                     key_slot("weapp-session:" + e[4]["code"]) in victim_slots]
        back = [e[1] for e in on_victim if e[0] > t_kill and e[3] == 200]
        # every acknowledged login is readable now (those of the killed primary's slots on the
        # promoted replica), both in the store and through the server
        records = self.stored_records(acknowledged, owners)
        found = sum(r != "" and json.loads(r)["openId"] == c["openid"]
                    for r, c in zip(records, acknowledged))
        errors = {}
        for e in during:
            if e[3] != 200:
                errors[e[3]] = errors.get(e[3], 0) + 1
        print(f"\ncluster failover (kill -9 of a primary under 3 threads of logins + lookups; "
              f"WAIT 1 on session writes):"
              f"\n  logins acknowledged {len(acknowledged)}, found afterwards {found} "
              f"({sum(e[3] == 200 for e in on_victim)} acknowledged in the killed primary's "
              f"slots); logins failed to the client {len(failed)}"
              f"\n  before the kill: {len(before)} answers, "
              f"{sum(e[3] != 200 for e in before)} errors"
              f"\n  during the switch: {len(during)} answers, {sum(errors.values())} errors "
              f"(by status {errors})"
              f"\n  after recovery: {len(after)} answers, {sum(e[3] != 200 for e in after)} errors"
              f"\n  replica promoted {t_promoted - t_kill:.2f} s after the kill; old primary "
              f"back as its replica at {t_rejoined - t_kill:.2f} s; first login acknowledged in "
              f"the killed primary's slots at {(back[0] - t_kill) if back else -1:.2f} s; "
              f"no error from {t_recovered - t_kill:.2f} s", flush=True)
        self.assertEqual(found, len(acknowledged), "every acknowledged login is in the store")
        for creds in acknowledged[::max(1, len(acknowledged) // 200)]:  # and served
            status, _, body = self.server.request("GET", "/applet/session",
                                                  {"X-WX-Code": creds["code"]})
            self.assertEqual(status, 200)
            self.assertIn(creds["openid"], body.decode())
        self.assertGreater(sum(e[3] == 200 and e[0] < t_kill for e in on_victim), 0,
                           "the killed primary held acknowledged logins")
        self.assertEqual([e for e in before if e[3] != 200], [], "no error before the kill")
        self.assertEqual([e for e in after if e[3] != 200], [], "no error after recovery")
        # errors, when any, are the store's (503), never a wrong answer (-1)
        self.assertEqual([e for e in during if e[3] not in (200, 503)], [])
        self.assertTrue(back, "logins in the killed primary's slots succeed again")


if __name__ == "__main__":
    unittest.main()
