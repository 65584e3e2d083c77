"""test_access_token.py: the app's access_token, one for every instance and worker.

Three wxsessiond instances, 2 workers each, on one store (a real redis-server; one SQLite file),
against a simulator whose stable_token expires quickly (8 s, a new token in the last 4 s). For a
while, clients ask each instance for phone numbers (POST /applet/phone: each call needs the
access_token) and services ask each instance's internal listener for the token (GET
/access-token). Midway the test invalidates the token at the simulator (another party's
force_refresh), so the next calls meet 40001. What must hold:
  - every phone number and every /access-token answer succeeded (the 40001 recovered);
  - every stable_token fetch brought a new token (fetches == tokens issued): no instance
    fetched one that another had already fetched, none fetched before WeChat's renew window;
  - tokens issued <= one per renewal period of the run (+ the invalidation's, + the first);
  - 40001 was met only after the invalidation, at most once per context holding a copy, and
    42001 never.
The figures are printed; waits are hang guards, not assertions of time.
"""
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (WXSESSION_CLI, Redis, Server, Simulator, free_port, request,
                     require_program, stop_instances)
from redis_ha import MASTER, SentinelPair, cluster_or_skip

INSTANCES = 3
WORKERS = 2
LIFETIME_S = 8  # the simulator's token life
RENEW_S = 4  # ... and its renew window (a new token in the last 4 s)
AHEAD_S = 2  # accessToken.refreshAheadSeconds: renew 1.5 s before the expiry, inside the window
RUN_S = 22
CLIENTS = 4
SECRET = "internal-shared-secret-for-tests"


class AccessToken:
    """The cases, on whatever store store_config() names (a subclass sets it up)."""

    run_s = RUN_S

    def setUp(self):
        self.procs = []
        self.addCleanup(self.stop_all)
        self.sim = Simulator()
        self.procs.append(self.sim)
        self.sim.configure(tokenLifetimeS=LIFETIME_S, tokenRenewS=RENEW_S, phonePerMinute=100000)
        self.start_store()
        self.instances = []
        for i in range(INSTANCES):
            cfg = {"wechat": {"apiBase": self.sim.base},
                   "metrics": {"port": free_port()},
                   "accessToken": {"refreshAheadSeconds": AHEAD_S, "sharedSecret": SECRET}}
            cfg.update(self.store_config())
            server = Server(cfg, name=f"wxsessiond-{i}", workers=WORKERS)
            self.procs.append(server)
            self.instances.append(server)

    def stop_all(self):
        stop_instances(self, self.instances, self.procs)

    def logs(self):
        return "\n".join(f"--- {s.name}:\n{s.output()[-2000:]}" for s in self.instances)

    def login(self, instance):
        creds = self.sim.login("phone-user")
        status, _, body = instance.request("POST", "/applet/login",
                                           {"Content-Type": "application/json"},
                                           json.dumps({"code": creds["code"]}).encode())
        self.assertEqual(status, 200, body)
        return json.loads(body)["token"]

    def phone(self, instance, token):
        status, _, body = self.sim.request("GET", "/__wxsim/phone-code?user=phone-user")
        self.assertEqual(status, 200, body)
        code = json.loads(body)
        return code["phoneNumber"], instance.request(
            "POST", "/applet/phone",
            {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            json.dumps({"code": code["code"]}).encode())

    def internal_token(self, instance):
        return request(instance.config["metrics"]["port"], "GET", "/access-token",
                       {"Authorization": f"Bearer {SECRET}"})

    def test_one_token_for_every_instance(self):
        token = self.login(self.instances[0])
        failures, answers = [], {"phone": 0, "internal": 0}
        lock = threading.Lock()
        stop = threading.Event()
        rng = random.Random(7)

        def client():
            while not stop.is_set():
                with lock:
                    instance = rng.choice(self.instances)
                    internal = rng.random() < 0.3
                if internal:
                    status, _, body = self.internal_token(instance)
                    ok = status == 200 and json.loads(body)["accessToken"]
                    kind = "internal"
                else:
                    number, (status, _, body) = self.phone(instance, token)
                    ok = status == 200 and json.loads(body)["phoneNumber"] == number
                    kind = "phone"
                with lock:
                    if ok:
                        answers[kind] += 1
                    else:
                        failures.append((instance.name, kind, status, body))
                time.sleep(0.02)

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        start = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(self.run_s / 2)
        before = self.sim.stats()
        status, _, body = self.sim.request("POST", "/__wxsim/invalidate-token", body=b"")
        self.assertEqual(status, 200, body)
        time.sleep(self.run_s / 2)
        stop.set()
        for t in threads:
            t.join(30)
        elapsed = time.monotonic() - start
        after = self.sim.stats()
        self.assertEqual(failures, [], self.logs())
        fetches, issued = after["tokenFetches"], after["tokensIssued"]
        errors = after["apiErrors"]
        contexts = INSTANCES * (WORKERS + 1)  # each worker's and each internal listener's
        periods = elapsed / (LIFETIME_S - AHEAD_S * 0.75 - 1)
        print(f"\n{self.kind}: {INSTANCES} instances x {WORKERS} workers, {elapsed:.0f} s: "
              f"{answers['phone']} phone numbers and {answers['internal']} /access-token "
              f"answers, all right; stable_token fetched {fetches} times for {issued} tokens "
              f"(1 by the forced invalidation); 40001 met {errors.get('40001', 0)} times, "
              f"all after the invalidation")
        self.assertGreater(answers["phone"], 0)
        self.assertGreater(answers["internal"], 0)
        self.assertEqual(fetches, issued, "a fetch brought a token that was already out")
        self.assertLessEqual(issued, int(periods) + 2 + 1, after)
        self.assertEqual(before["apiErrors"].get("40001", 0), 0, before)
        self.assertGreaterEqual(errors.get("40001", 0), 1, after)
        self.assertLessEqual(errors.get("40001", 0), contexts, after)
        self.assertEqual(errors.get("42001", 0), 0, after)

    def test_passive_refresh_drops_only_the_token_that_failed(self):
        a, b = self.instances[0], self.instances[1]
        status, _, body = self.internal_token(a)
        self.assertEqual(status, 200, body)
        first = json.loads(body)["accessToken"]
        fetches = self.sim.stats()["tokenFetches"]
        # a service saw 40001 with a token that is not the stored one: nothing is fetched
        status, _, body = request(b.config["metrics"]["port"], "POST", "/access-token/invalid",
                                  {"Authorization": f"Bearer {SECRET}"},
                                  json.dumps({"accessToken": "not-the-stored-one"}).encode())
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["accessToken"], first)
        self.assertEqual(self.sim.stats()["tokenFetches"], fetches)
        # the stored one failed (WeChat invalidated it): dropped, fetched again, once
        self.sim.request("POST", "/__wxsim/invalidate-token", body=b"")
        answers = []

        def passive(instance):
            answers.append(request(instance.config["metrics"]["port"], "POST",
                                   "/access-token/invalid", {"Authorization": f"Bearer {SECRET}"},
                                   json.dumps({"accessToken": first}).encode()))
        threads = [threading.Thread(target=passive, args=(s,)) for s in self.instances]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        tokens = {json.loads(body)["accessToken"] for status, _, body in answers if status == 200}
        self.assertEqual(len(answers), INSTANCES)
        self.assertTrue(all(status == 200 for status, _, _ in answers), answers)
        self.assertEqual(len(tokens), 1, tokens)
        self.assertNotIn(first, tokens)
        self.assertEqual(self.sim.stats()["tokenFetches"], fetches + 1)
        # the command-line tool, with an instance's configuration, reads the same stored token
        # without fetching
        out = subprocess.run([WXSESSION_CLI, "access-token", "--config", a.config_path],
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["accessToken"], tokens.pop())
        self.assertEqual(self.sim.stats()["tokenFetches"], fetches + 1)

    def test_endpoint_needs_the_secret(self):
        port = self.instances[0].config["metrics"]["port"]
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": SECRET}):
            status, _, body = request(port, "GET", "/access-token", headers)
            self.assertEqual(status, 401, body)
            self.assertEqual(list(json.loads(body)), ["error"])
        status, _, body = request(port, "POST", "/access-token", {"Authorization": f"Bearer {SECRET}"},
                                  b"")
        self.assertEqual(status, 405, body)
        status, _, body = request(port, "POST", "/access-token/invalid",
                                  {"Authorization": f"Bearer {SECRET}"}, b"{}")
        self.assertEqual(status, 400, body)
        # the public port does not serve it
        status, _, _ = self.instances[0].request("GET", "/access-token",
                                                 {"Authorization": f"Bearer {SECRET}"})
        self.assertEqual(status, 404)
        for s in self.instances:
            self.assertNotIn(SECRET, s.output())


class OnRedis(AccessToken, unittest.TestCase):
    kind = "Redis"

    def start_store(self):
        require_program(self, "redis-server", "redis-server")
        self.redis = Redis()
        self.procs.append(self.redis)

    def store_config(self):
        return {"store": "redis", "redis": {"port": self.redis.port}}


class OnSqlite(AccessToken, unittest.TestCase):
    kind = "SQLite file"

    def start_store(self):
        self.dir = tempfile.mkdtemp(prefix="wxs-atok-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def store_config(self):
        return {"store": "sqlite", "sqlite": {"path": os.path.join(self.dir, "shared.db")}}


class OnSentinel(AccessToken, unittest.TestCase):
    kind = "Sentinel pair"
    run_s = 12

    def start_store(self):
        program = require_program(self, "redis-sentinel", "redis-sentinel")
        self.pair = SentinelPair(program)
        self.procs += self.pair.procs()

    def store_config(self):
        return {"store": "redis", "redis": {"sentinels": self.pair.sentinel_list(),
                                            "masterName": MASTER}}


class OnCluster(AccessToken, unittest.TestCase):
    kind = "Redis Cluster"
    run_s = 12

    def start_store(self):
        self.cluster = cluster_or_skip(self, self.procs)
        self.addCleanup(self.cluster.cleanup)

    def store_config(self):
        return {"store": "redis", "redis": {"cluster": self.cluster.seeds()}}


if __name__ == "__main__":
    unittest.main()
