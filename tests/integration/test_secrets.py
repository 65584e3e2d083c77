"""test_secrets.py: a secrets audit. A full run (logins, code-only requests, One Stroke calls,
bad signatures, WeChat errcodes, hangs, garbage, huge replies, Redis restarts, concurrent first
requests) with a known app secret, known session_keys, a password-protected Redis and
log.level debug, the access log and the login audit on, in text and in JSON log format, and a
token session (login, /me, /session, One Stroke, /decrypt, logout); then the complete server
log, every response body and header collected (all but the token login's answer, the one that
hands the token to its owner), /healthz and /metrics are searched for: the app secret, each
session_key (as WeChat sends it, URL-encoded, and decoded as hex), the Redis password, every raw
code and the token; the log also for every openId (the audit line carries its hash only).
"""
import base64
import json
import os
import threading
import time
import unittest
import urllib.parse

from harness import (APP_SECRET, PersistentRedis, Server, Simulator, free_port, login_headers,
                     request, wait_until)

REDIS_PASSWORD = "redis-Pa55-audit-7f3a9c"
WRONG_PASSWORD = "redis-wrong-Pa55-b41e"


def key_for(n):
    """A known session_key: 16 bytes, base64 (24 characters), with + and / in it."""
    raw = bytes([(n * 37 + i * 11 + 0xfb) % 256 for i in range(16)])
    return base64.b64encode(raw).decode()


def forms(secret):
    """The ways a secret could show up: as is, URL-encoded (as in a request URL), and for a
    base64 session_key also its bytes in hex."""
    out = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    if len(secret) == 24 and secret.endswith("=="):
        out.add(base64.b64decode(secret).hex())
    return out


class SecretsAudit:
    log_format = None

    @classmethod
    def setUpClass(cls):
        cls.procs = []
        cls.sim = Simulator()
        cls.procs.append(cls.sim)
        cls.redis = PersistentRedis(password=REDIS_PASSWORD)
        cls.procs.append(cls.redis)
        cls.metrics_port = free_port()
        cls.server = Server({"store": "redis",
                             "metrics": {"port": cls.metrics_port},
                             "redis": {"port": cls.redis.port, "timeoutMs": 500},
                             "wechat": {"apiBase": cls.sim.base, "timeoutMs": 800,
                                        "connectTimeoutMs": 800},
                             "log": {"level": "debug", "format": cls.log_format,
                                     "access": True, "audit": True}},
                            env={"WXS_REDIS_PASSWORD": REDIS_PASSWORD})
        cls.procs.append(cls.server)
        cls.collected = []  # every response: status line info, headers and body
        cls.codes = set()
        cls.keys = set()
        cls.openids = set()
        cls.tokens = set()

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            p.cleanup()

    # ---- a client that keeps everything it receives
    def call(self, method, path, headers=None, body=None, code_is_secret=True):
        status, hdrs, data = request(self.server.port, method, path, headers, body)
        self.collected.append(json.dumps(hdrs).encode() + b"\n" + data)
        code = (headers or {}).get("X-WX-Code")
        if code and code_is_secret:
            self.codes.add(code)
        return status, data.decode("utf-8", "replace")

    def login_creds(self, user, **extra):
        key = key_for(len(self.keys) + 1)
        self.keys.add(key)
        creds = self.sim.login(user, sessionKey=key, **extra)
        self.codes.add(creds["code"])
        self.openids.add(creds["openid"])
        return creds

    def run_everything(self):
        sim = self.sim
        # logins, code-only requests, One Stroke
        users = {}
        for i in range(6):
            creds = self.login_creds(f"audit{i}")
            status, body = self.call("GET", "/applet/session", login_headers(creds))
            self.assertEqual(status, 200, body)
            users[creds["code"]] = creds
            self.call("GET", "/applet/session", {"X-WX-Code": creds["code"]})
            h = {"X-WX-Code": creds["code"], "Content-Type": "application/json"}
            self.call("POST", "/applet/session/paints/save", h,
                      json.dumps({"id": f"d{i}", "actions": "[1]"}).encode())
            self.call("GET", "/applet/session/paints/list", h)
            self.call("POST", "/applet/session/paints/delete", h, b'{"id":"missing"}')
        # a second login of a user (rotates the key and deletes the previous session)
        creds = self.login_creds("audit0")
        self.assertEqual(self.call("GET", "/applet/session", login_headers(creds))[0], 200)
        # bad signature, tampered rawData, malformed rawData
        creds = self.login_creds("mallory")
        sig = ("0" if creds["signature"][0] != "0" else "1") + creds["signature"][1:]
        self.assertIn("ERR_UNTRUSTED_RAW_DATA",
                      self.call("GET", "/applet/session", login_headers(creds, signature=sig))[1])
        creds = self.login_creds("mallory")
        raw = creds["rawData"].replace('"gender":0', '"gender":2')
        self.call("GET", "/applet/session", login_headers(creds, raw=raw))
        creds = self.login_creds("mallory")
        self.call("GET", "/applet/session", login_headers(creds, raw="{not json"))
        hdrs = login_headers(creds)
        hdrs["X-WX-RawData"] = "%E5%BE"
        self.call("GET", "/applet/session", hdrs)
        # WeChat errcodes: never issued (40029), used elsewhere (40163), busy (-1)
        creds = self.login_creds("erin")
        self.call("GET", "/applet/session", login_headers(creds, code="neverissued-abcdef-0123"))
        q = urllib.parse.urlencode({"appid": self.server.config["appId"], "secret": APP_SECRET,
                                    "js_code": creds["code"],
                                    "grant_type": "authorization_code"})
        sim.request("GET", f"/sns/jscode2session?{q}")  # someone else spends the code
        self.assertIn("40163", self.call("GET", "/applet/session", login_headers(creds))[1])
        for mode in ("busy", "http500", "garbage", "huge", "hang"):
            creds = self.login_creds(f"fault-{mode}")
            sim.configure(failMode=mode, failCount=-1)
            status, body = self.call("GET", "/applet/session", login_headers(creds))
            sim.configure(failMode="none")
            self.assertIn("ERR_SESSION_KEY_EXCHANGE_FAILED", body)
            # and the retry (the claim released, or the answer remembered)
            self.call("GET", "/applet/session", login_headers(creds))
        # concurrent first requests: one exchange, remembered result (holds the session_key)
        creds = self.login_creds("crowd")
        sim.configure(latencyMs=150)
        threads = [threading.Thread(target=self.call, args=("GET", "/applet/session",
                                                            login_headers(creds)))
                   for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sim.configure(latencyMs=0)
        self.call("GET", "/applet/session", login_headers(creds))  # retried: from the store
        # codes that name other entries, unknown codes, over-long codes
        self.call("GET", "/applet/session", {"X-WX-Code": creds["openid"]}, code_is_secret=False)
        self.call("GET", "/applet/session", {"X-WX-Code": "unknown-code-7d1e2f"})
        self.call("GET", "/applet/session", {"X-WX-Code": "k" * 300})
        # Redis restarts (the reconnect sends AUTH again) and a request while it is down
        self.redis.kill()
        self.call("GET", "/applet/session", {"X-WX-Code": next(iter(users))})
        self.call("GET", "/healthz")
        self.redis.restart()
        wait_until(lambda: self.call("GET", "/healthz")[0] == 200,
                   "healthy again after Redis restarted")  # a hang guard
        for code in users:
            self.call("GET", "/applet/session", {"X-WX-Code": code})
        # the token protocol: a login (its answer, the one place the token may be, is not
        # collected), then the token on /me, /session and One Stroke, decrypt, logout
        creds = self.login_creds("token-audit")
        status, _, body = request(self.server.port, "POST", "/applet/login",
                                  {"Content-Type": "application/json"},
                                  json.dumps({"code": creds["code"]}).encode())
        self.assertEqual(status, 200, body)
        token = json.loads(body)["token"]
        self.tokens.add(token)
        bearer = {"Authorization": f"Bearer {token}"}
        self.call("GET", "/applet/me", bearer)
        self.call("GET", "/applet/session", bearer)
        self.call("GET", "/applet/session/paints/list", bearer)
        self.call("POST", "/applet/decrypt", dict(bearer, **{"Content-Type": "application/json"}),
                  json.dumps({"encryptedData": creds["encryptedData"], "iv": creds["iv"]})
                  .encode())
        self.call("POST", "/applet/logout", dict(bearer, **{"Content-Type": "application/json"}),
                  b"{}")
        self.call("GET", "/applet/me", bearer)  # 401 now
        # /metrics: on its own listener only (404 on the public port); its body is searched
        self.assertEqual(self.call("GET", "/metrics")[0], 404)
        status, _, metrics = request(self.metrics_port, "GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b"wxsession_logins_total", metrics)
        self.collected.append(metrics)

    def needles(self):
        found = {"app secret": forms(APP_SECRET), "redis password": forms(REDIS_PASSWORD)}
        for i, key in enumerate(sorted(self.keys)):
            found[f"session_key #{i}"] = forms(key)
        for i, token in enumerate(sorted(self.tokens)):
            found[f"token #{i}"] = forms(token)
        for code in sorted(self.codes):
            if len(code) >= 16:  # short strings (an openid prefix...) would match by chance
                found[f"code {code[:6]}..."] = forms(code)
        return found

    def test_no_secret_in_logs_or_bodies(self):
        self.run_everything()
        status = self.server.stop()
        log = self.server.output()
        self.assertEqual(status, 0, log[-3000:])
        self.assertGreater(log.count("debug"), 0, "the run logged at debug level")
        haystacks = {"server log": log.encode()}
        for i, body in enumerate(self.collected):
            haystacks[f"response #{i}"] = body
        leaks = []
        for what, variants in self.needles().items():
            for where, text in haystacks.items():
                if any(v.encode() in text for v in variants):
                    leaks.append(f"{what} in {where}")
        for openid in sorted(self.openids):  # handed to their owners; never logged
            if openid.encode() in haystacks["server log"]:
                leaks.append(f"openId {openid[:6]}... in the server log")
        self.assertIn("login result=" if self.log_format != "json" else '"msg":"login"', log)
        self.assertIn("openIdHash", log)
        self.assertEqual(leaks, [], "\n" + log[-3000:])
        self.assertGreater(len(self.keys), 10)
        self.assertGreater(len(self.collected), 50)
        if self.log_format == "json":
            lines = [line for line in log.splitlines() if line.startswith("{")]
            self.assertGreater(len(lines), 5)
            for line in lines:
                json.loads(line)  # every JSON log line parses

    def test_wrong_redis_password_not_logged(self):
        server = Server({"store": "redis", "redis": {"port": self.redis.port},
                         "wechat": {"apiBase": self.sim.base},
                         "log": {"level": "debug", "format": self.log_format}},
                        env={"WXS_REDIS_PASSWORD": WRONG_PASSWORD}, healthy=False)
        try:
            # was: a 0.5 s sleep for the AUTH attempt to happen
            wait_until(lambda: "AUTH failed" in server.output(), "the AUTH attempt was logged")
            status, _, body = server.request("GET", "/applet/session", {"X-WX-Code": "x" * 20})
            self.assertEqual(status, 503)
            self.assertEqual(server.stop(), 0)
            log = server.output()
            self.assertIn("AUTH failed", log)
            for variant in forms(WRONG_PASSWORD) | forms(REDIS_PASSWORD):
                self.assertNotIn(variant, log)
                self.assertNotIn(variant.encode(), body)
        finally:
            server.cleanup()


class TextLog(SecretsAudit, unittest.TestCase):
    log_format = "text"


class JsonLog(SecretsAudit, unittest.TestCase):
    log_format = "json"


if __name__ == "__main__":
    unittest.main()
