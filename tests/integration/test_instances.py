"""test_instances.py: three wxsessiond instances behind one nginx upstream, on a Sentinel-managed
Redis pair and on a Redis Cluster (Debian's redis-server, redis-sentinel and nginx, on loopback).

Through nginx (round-robin over the three): concurrent first requests with one code, spread over
the instances, make one WeChat exchange (the simulator counts them) and all get the user; a
second login of a user makes its previous code expire on every instance, asked directly. Each
instance's /metrics shows it served its share. The figures are printed; waits are hang guards.
"""
import json
import os
import shutil
import tempfile
import threading
import unittest

from harness import (Process, Server, Simulator, free_port, login_headers, request,
                     require_program, stop_instances, wait_port)
from redis_ha import MASTER, SentinelPair, cluster_or_skip
from test_nginx import main_conf, nginx_argv
from test_session import EXPIRED

INSTANCES = 3
ROUNDS = 8
CROWD = 12  # concurrent first requests with one code, per round


def upstream_site(http_port, ports):
    """An nginx site: one upstream of the instances (keep-alive), /applet/ proxied to it."""
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in ports)
    return (f"upstream wxsessiond {{\n{servers}    keepalive 16;\n}}\n"
            f"server {{\n    listen 127.0.0.1:{http_port};\n"
            "    location /applet/ {\n"
            "        proxy_pass http://wxsessiond;\n"
            "        proxy_http_version 1.1;\n"
            "        proxy_set_header Connection \"\";\n"
            "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "    }\n}\n")


def session_requests(port):
    """Answers of /session a wxsessiond counted (its /metrics)."""
    status, _, body = request(port, "GET", "/metrics")
    assert status == 200, body
    total = 0
    for line in body.decode().splitlines():
        if line.startswith('wxsession_http_requests_total{route="/session"'):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


class Instances:
    """The cases, on whatever store redis_config() names (a subclass sets it up)."""

    def setUp(self):
        require_program(self, "nginx", "nginx")
        self.procs = []
        self.addCleanup(self.stop_all)
        self.sim = Simulator()
        self.procs.append(self.sim)
        self.start_store()
        self.instances = []
        for i in range(INSTANCES):
            metrics = free_port()
            # generous Redis and WAIT timeouts: hang guards on a loaded 2-core machine (the
            # defaults' behaviour is test_sentinel's and test_cluster's subject, not this one)
            redis = dict(self.redis_config(), timeoutMs=5000, waitTimeoutMs=5000)
            server = Server({"store": "redis", "redis": redis,
                             "wechat": {"apiBase": self.sim.base},
                             "metrics": {"port": metrics}, "trustForwardedFor": True},
                            name=f"wxsessiond-{i}")
            server.metrics_port = metrics
            self.procs.append(server)
            self.instances.append(server)
        self.dir = tempfile.mkdtemp(prefix="wxs-instances-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.http_port = free_port()
        site = os.path.join(self.dir, "site.conf")
        with open(site, "w") as f:
            f.write(upstream_site(self.http_port, [s.port for s in self.instances]))
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(main_conf(self.dir, site))
        self.nginx = Process(nginx_argv(self.dir, conf), "nginx")
        self.procs.append(self.nginx)
        wait_port(self.http_port, self.nginx.proc, "nginx")

    def stop_all(self):
        stop_instances(self, self.instances, self.procs)

    def logs(self):
        """Each instance's log, its last lines: what a failed answer is explained by."""
        return "\n".join(f"--- {s.name}:\n{s.output()[-2000:]}" for s in self.instances)

    def front(self, headers):
        return request(self.http_port, "GET", "/applet/session", headers)

    def test_one_exchange_per_code_across_instances(self):
        served_before = [session_requests(s.metrics_port) for s in self.instances]
        exchanges = 0
        for r in range(ROUNDS):
            creds = self.sim.login(f"crowd-{r}")
            before = self.sim.stats()["exchanges"]
            answers = []
            lock = threading.Lock()

            def first_request():
                status, _, body = self.front(login_headers(creds))
                with lock:
                    answers.append((status, body))
            threads = [threading.Thread(target=first_request) for _ in range(CROWD)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for status, body in answers:
                self.assertEqual(status, 200, f"round {r}: {body!r}\n{self.logs()}")
                self.assertEqual(json.loads(body)["wxUserInfo"]["openId"], creds["openid"])
            used = self.sim.stats()["exchanges"] - before
            self.assertEqual(used, 1, f"round {r}: {used} WeChat exchanges for one code")
            exchanges += used
        served = [session_requests(s.metrics_port) - b
                  for s, b in zip(self.instances, served_before)]
        print(f"\n{self.kind}: {ROUNDS} rounds of {CROWD} concurrent first requests with one code "
              f"through nginx: {exchanges} WeChat exchanges, {ROUNDS * CROWD} right answers; "
              f"answers per instance {served}")
        self.assertEqual(sum(served), ROUNDS * CROWD)
        self.assertTrue(all(n > 0 for n in served), served)

    def test_relogin_expires_the_old_code_everywhere(self):
        first = self.sim.login("relogin")
        self.assertEqual(self.front(login_headers(first))[0], 200)
        for s in self.instances:
            status, _, body = s.request("GET", "/applet/session", {"X-WX-Code": first["code"]})
            self.assertEqual(status, 200, body)
            self.assertIn(first["openid"].encode(), body)
        second = self.sim.login("relogin")
        self.assertEqual(second["openid"], first["openid"])
        self.assertEqual(self.front(login_headers(second))[0], 200)
        for s in self.instances:
            status, _, body = s.request("GET", "/applet/session", {"X-WX-Code": first["code"]})
            self.assertEqual(status, 200)
            self.assertIn(EXPIRED.encode(), body)
            status, _, body = s.request("GET", "/applet/session", {"X-WX-Code": second["code"]})
            self.assertEqual(status, 200, body)
            self.assertIn(second["openid"].encode(), body)


class OnSentinel(Instances, unittest.TestCase):
    kind = "Sentinel pair"

    def start_store(self):
        program = require_program(self, "redis-sentinel", "redis-sentinel")
        self.pair = SentinelPair(program)
        self.procs += self.pair.procs()

    def redis_config(self):
        return {"sentinels": self.pair.sentinel_list(), "masterName": MASTER}


class OnCluster(Instances, unittest.TestCase):
    kind = "Redis Cluster"

    def start_store(self):
        self.cluster = cluster_or_skip(self, self.procs)
        self.addCleanup(self.cluster.cleanup)

    def redis_config(self):
        return {"cluster": self.cluster.seeds()}


if __name__ == "__main__":
    unittest.main()
