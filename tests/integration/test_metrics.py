"""test_metrics.py: GET /metrics on its own listener, the access log and the login audit line.

A wxsessiond (two workers, SQLite, the WeChat simulator as a separate process) gets a known set
of requests; the scrape afterwards must count exactly those, in every family, summed over both
workers; Debian's `promtool check metrics` must accept the text; no label or value may carry a
code, an openId or a secret. The public port never serves /metrics; the metrics port serves
nothing else. With log.access on, every answer carries X-Request-Id and one access line; each
login leaves one audit line with the openId hashed. Waits are hang guards, never timings.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unittest

from harness import (APP_SECRET, Server, Simulator, free_port, login_headers, raw_exchange,
                     request, require_program, stop_class_servers, wait_until)


def parse(text):
    """{(name, frozenset(labels)): value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def sample(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="wxs-metrics-")
        cls.sim = Simulator()
        cls.metrics_port = free_port()
        cls.server = Server({"sqlite": {"path": os.path.join(cls.tmp, "s.db")},
                             "wechat": {"apiBase": cls.sim.base},
                             "metrics": {"port": cls.metrics_port},
                             "log": {"access": True}})

    @classmethod
    def tearDownClass(cls):
        stop_class_servers(cls.server, cls.sim, cls.tmp)

    def scrape(self):
        status, headers, body = request(self.metrics_port, "GET", "/metrics")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        return body.decode()

    def test_counts_after_known_requests(self):
        sim, server = self.sim, self.server
        before = parse(self.scrape())
        secrets = {APP_SECRET}
        # 3 logins of 3 users (3 exchanges), each followed by 2 code-only look-ups
        for user in ("m-ann", "m-bob", "m-cat"):
            creds = sim.login(user)
            secrets |= {creds["code"], creds["openid"]}
            self.assertEqual(server.request("GET", "/applet/session",
                                            login_headers(creds))[0], 200)
            for _ in range(2):
                self.assertEqual(server.request("GET", "/applet/session",
                                                {"X-WX-Code": creds["code"]})[0], 200)
        # a login retried with its code: the remembered result, no second exchange
        self.assertEqual(server.request("GET", "/applet/session", login_headers(creds))[0], 200)
        # a bad signature (1 exchange), a never-issued code (1 exchange, errcode 40029)
        creds = sim.login("m-eve")
        secrets |= {creds["code"], creds["openid"]}
        bad = ("0" if creds["signature"][0] != "0" else "1") + creds["signature"][1:]
        self.assertEqual(server.request("GET", "/applet/session",
                                        login_headers(creds, signature=bad))[0], 200)
        self.assertEqual(server.request("GET", "/applet/session",
                                        login_headers(creds, code="never-issued-code-0001"))[0],
                         200)
        # malformed rawData, an unknown code (code-only), an anonymous request, a 404, a 405
        self.assertEqual(server.request("GET", "/applet/session",
                                        login_headers(creds, raw="{not json"))[0], 200)
        self.assertEqual(server.request("GET", "/applet/session",
                                        {"X-WX-Code": "unknown-code-0002"})[0], 200)
        self.assertEqual(server.request("GET", "/applet/session")[0], 200)
        self.assertEqual(server.request("GET", "/no/such/route")[0], 404)
        self.assertEqual(server.request("POST", "/applet/session", body=b"")[0], 405)
        # the HTTP layer's own answer: a malformed request line (400)
        self.assertIn(b" 400 ", raw_exchange(server.port, b"NOT HTTP\r\n\r\n"))
        # 5 concurrent first requests with one code: one exchange, 4 joins
        creds = sim.login("m-dan")
        secrets |= {creds["code"], creds["openid"]}
        sim.configure(latencyMs=200)
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            server.request("GET", "/applet/session", login_headers(creds))[0]))
            for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sim.configure(latencyMs=0)
        self.assertEqual(results, [200] * 5)

        text = self.scrape()
        after = parse(text)

        def delta(name, **labels):
            key = (name, frozenset(labels.items()))
            return after[key] - before.get(key, 0)

        self.assertEqual(delta("wxsession_logins_total", result="ok"), 3 + 1 + 5)
        self.assertEqual(delta("wxsession_logins_total", result="untrusted_raw_data"), 1)
        self.assertEqual(delta("wxsession_logins_total", result="exchange_failed"), 1)
        self.assertEqual(delta("wxsession_logins_total", result="malformed_raw_data"), 1)
        self.assertEqual(delta("wxsession_logins_total", result="store_unavailable"), 0)
        self.assertEqual(delta("wxsession_session_lookups_total", result="ok"), 6)
        self.assertEqual(delta("wxsession_session_lookups_total", result="session_expired"), 1)
        # the simulator saw exactly the exchanges counted
        self.assertEqual(delta("wxsession_wechat_exchanges_total", errcode="0"), 3 + 1 + 1)
        self.assertEqual(delta("wxsession_wechat_exchanges_total", errcode="40029"), 1)
        self.assertEqual(delta("wxsession_wechat_exchange_duration_seconds_count"), 6)
        # the retry read the remembered result: a store join; the crowd: 4 waited on one call
        # (on whichever worker the connections landed: local when on one, store across both)
        joins = (delta("wxsession_exchange_joins_total", where="local")
                 + delta("wxsession_exchange_joins_total", where="store"))
        self.assertGreaterEqual(joins, 1 + 1)
        self.assertLessEqual(joins, 1 + 4)
        self.assertEqual(delta("wxsession_store_operation_duration_seconds_count",
                               store="sqlite", op="get"), 7)
        self.assertEqual(delta("wxsession_store_operation_duration_seconds_count",
                               store="sqlite", op="write"), 3 + 1 + 5)
        self.assertEqual(sample(after, "wxsession_store_up", store="sqlite"), 1)
        # requests by route and class: /session answered 2xx to every protocol answer above
        self.assertEqual(delta("wxsession_http_requests_total", route="/session", code="2xx"),
                         3 * 3 + 1 + 2 + 1 + 1 + 1 + 5)
        self.assertEqual(delta("wxsession_http_requests_total", route="/session", code="4xx"), 1)
        self.assertEqual(delta("wxsession_http_requests_total", route="other", code="4xx"), 1)
        self.assertEqual(delta("wxsession_http_requests_total", route="none", code="4xx"), 1)
        # build info names this build
        version = subprocess.run([server.proc.args[0], "--version"], capture_output=True,
                                 text=True).stdout
        commit = re.search(r"commit ([^)]+)", version).group(1)
        self.assertEqual(sample(after, "wxsession_build_info", version="0.1.0", commit=commit), 1)
        # no code, openId or secret anywhere in the text
        for s in secrets:
            self.assertNotIn(s, text)
        # histograms: cumulative buckets ending at the count
        buckets = [v for (n, l), v in after.items()
                   if n == "wxsession_wechat_exchange_duration_seconds_bucket"]
        self.assertEqual(max(buckets), after[("wxsession_wechat_exchange_duration_seconds_count",
                                              frozenset())])
        self.promtool(text)

    def promtool(self, text):
        promtool = require_program(self, "promtool", "prometheus")
        out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                             text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(out.stdout + out.stderr, "", "promtool has remarks")

    def test_listeners_are_separate(self):
        self.assertEqual(self.server.request("GET", "/metrics")[0], 404)
        self.assertEqual(request(self.metrics_port, "GET", "/applet/session")[0], 404)
        self.assertEqual(request(self.metrics_port, "POST", "/metrics", body=b"")[0], 405)
        self.assertEqual(request(self.metrics_port, "HEAD", "/metrics")[0], 200)

    def test_open_connections_gauge(self):
        import http.client
        conns = [http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
                 for _ in range(3)]
        try:
            for c in conns:
                c.request("GET", "/livez")
                c.getresponse().read()
            self.assertGreaterEqual(
                sample(parse(self.scrape()), "wxsession_http_connections"), 3)
        finally:
            for c in conns:
                c.close()
        wait_until(lambda: sample(parse(self.scrape()), "wxsession_http_connections") == 0,
                   "the gauge back at 0 once the clients closed")

    def test_access_and_audit_lines(self):
        creds = self.sim.login("m-log")
        status, headers, _ = self.server.request("GET", "/applet/session?token=QUERYSECRET",
                                                 login_headers(creds))
        self.assertEqual(status, 200)
        rid = headers["x-request-id"]
        self.assertRegex(rid, r"^[0-9a-f]{24}$")
        # a proxy's id carries through; a bad one is replaced
        self.assertEqual(self.server.request("GET", "/livez", {"X-Request-Id": "nginx-42"})[1]
                         ["x-request-id"], "nginx-42")
        bad = {"X-Request-Id": "not a token; " + "x" * 80}
        self.assertRegex(self.server.request("GET", "/livez", bad)[1]["x-request-id"],
                         r"^[0-9a-f]{24}$")
        wait_until(lambda: any(f"id={rid}" in l and " access " in l
                               for l in self.server.output().splitlines()),
                   "the access line of the login")
        lines = self.server.output().splitlines()
        access = [l for l in lines if f"id={rid}" in l and " access " in l]
        self.assertEqual(len(access), 1, access)
        self.assertIn("method=GET path=/applet/session status=200", access[0])
        self.assertIn("client=127.0.0.1", access[0])
        self.assertNotIn("QUERYSECRET", self.server.output())
        audit = [l for l in lines if f"id={rid}" in l and " login " in l]
        self.assertEqual(len(audit), 1, audit)
        want = hashlib.sha256(creds["openid"].encode()).hexdigest()[:16]
        self.assertIn(f"result=ok openIdHash={want}", audit[0])
        self.assertNotIn(creds["openid"], self.server.output())
        self.assertNotIn(creds["code"], self.server.output())


class MetricsOff(unittest.TestCase):
    def test_default_has_no_metrics_listener_and_no_request_ids(self):
        tmp = tempfile.mkdtemp(prefix="wxs-metrics-off-")
        server = Server({"sqlite": {"path": os.path.join(tmp, "s.db")},
                         "simulator": {"enabled": True}})
        try:
            status, headers, _ = server.request("GET", "/livez")
            self.assertEqual(status, 200)
            self.assertNotIn("x-request-id", headers)
            self.assertNotIn("metrics on", server.output())
            self.assertNotIn(" access ", server.output())
        finally:
            server.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


class JsonLines(unittest.TestCase):
    def test_access_line_as_json(self):
        tmp = tempfile.mkdtemp(prefix="wxs-metrics-json-")
        server = Server({"sqlite": {"path": os.path.join(tmp, "s.db")},
                         "simulator": {"enabled": True},
                         "log": {"access": True, "format": "json"}})
        try:
            status, headers, _ = server.request("GET", "/livez?x=1")
            self.assertEqual(status, 200)
            rid = headers["x-request-id"]
            wait_until(lambda: rid in server.output(), "the access line")
            line = next(l for l in server.output().splitlines() if rid in l)
            rec = json.loads(line)
            self.assertEqual((rec["msg"], rec["method"], rec["path"], rec["status"], rec["id"]),
                             ("access", "GET", "/livez", 200, rid))
            self.assertIsInstance(rec["ms"], float)
            self.assertIsInstance(rec["bytes"], int)
        finally:
            server.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
