"""test_session.py: the weapp-session protocol end to end, against the real wxsessiond with the
WeChat simulator as a separate process, on each session store (Redis, SQLite).

Each case: a request (headers), what the simulator does, the exact response, and where it
matters what the store holds afterwards.
"""
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import (APP_SECRET, Redis, Server, Simulator, login_headers, raw_exchange,
                     split_responses, wait_until)

MAGIC = "F2C224D4-2BCE-4C64-AF9F-A6D872000D1A"
JSON_TYPE = "application/json; charset=utf-8"
EXPIRED = ('{"F2C224D4-2BCE-4C64-AF9F-A6D872000D1A":1,"reason":"ERR_SESSION_EXPIRED",'
           '"error":{"name":"Error","message":"`wxUserInfo` not found by `code`"}}')
UNTRUSTED = ('{"F2C224D4-2BCE-4C64-AF9F-A6D872000D1A":1,"reason":"ERR_UNTRUSTED_RAW_DATA",'
             '"error":{"name":"Error","message":"untrusted raw data"}}')


def exchange_failed(detail):
    return ('{"F2C224D4-2BCE-4C64-AF9F-A6D872000D1A":1,"reason":"ERR_SESSION_KEY_EXCHANGE_FAILED",'
            '"error":{"name":"Error","message":"jscode failed to exchange session_key",'
            f'"detail":{detail}}}}}')


OFFICIAL_RAW = ('{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou",'
                '"province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/'
                'vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyz'
                'YsrztuuICqIM5ibXQ/0"}')
OFFICIAL_KEY = "HyVFkGl5F5OQWJZZaNzBBg=="
OFFICIAL_SIG = "75e81ceda165f4ffa64f4068af58c64b8f54b88c"


class SessionProtocol:
    """The cases; subclasses choose the store."""
    store = None
    server_config = {}

    @classmethod
    def setUpClass(cls):
        cls.procs = []
        cls.sim = Simulator()
        cls.procs.append(cls.sim)
        cls.start_store()
        cfg = {"store": cls.store, "wechat": {"apiBase": cls.sim.base, "timeoutMs": 1000,
                                               "connectTimeoutMs": 1000}}
        cfg.update(cls.store_config())
        cls.server = Server(cfg, env={"WXS_LOG_LEVEL": "debug"})
        cls.procs.append(cls.server)

    @classmethod
    def tearDownClass(cls):
        status = cls.server.stop()
        log = cls.server.output()
        for p in reversed(cls.procs):
            p.cleanup()
        # graceful stop, and no secret in the log (app secret, any session_key issued)
        assert status == 0, f"wxsessiond exited with {status}:\n{log[-2000:]}"
        assert APP_SECRET not in log, "app secret leaked into the log"
        assert OFFICIAL_KEY not in log, "a session_key leaked into the log"

    def setUp(self):
        self.sim.configure(failMode="none", latencyMs=0)

    # ---- helpers
    def login(self, user, **extra):
        return self.sim.login(user, **extra)

    def get_session(self, headers=None):
        status, hdrs, body = self.server.request("GET", "/applet/session", headers or {})
        return status, hdrs, body.decode("utf-8")

    def assert_user(self, body, creds):
        got = json.loads(body)["wxUserInfo"]
        want = json.loads(creds["rawData"])
        want["openId"] = creds["openid"]
        self.assertEqual(got, want)
        self.assertEqual(list(got), list(want), "key order of rawData kept, openId last")

    # ---- the three paths
    def test_anonymous(self):
        status, hdrs, body = self.get_session()
        self.assertEqual((status, body), (200, '{"wxUserInfo":null}'))
        self.assertEqual(hdrs["content-type"], JSON_TYPE)

    def test_login_then_code_only(self):
        creds = self.login("alice")
        status, hdrs, body = self.get_session(login_headers(creds))
        self.assertEqual(status, 200, body)
        self.assertEqual(hdrs["content-type"], JSON_TYPE)
        expected = '{"wxUserInfo":' + creds["rawData"][:-1] + ',"openId":"' + creds["openid"] + '"}}'
        self.assertEqual(body, expected, "the stored record is rawData byte for byte + openId")
        status, _, body2 = self.get_session({"X-WX-Code": creds["code"]})
        self.assertEqual((status, body2), (200, expected))
        self.assert_store_layout(creds)

    def test_unknown_code_is_expired(self):
        status, hdrs, body = self.get_session({"X-WX-Code": "nosuchcode0123456789"})
        self.assertEqual((status, body), (200, EXPIRED))
        self.assertEqual(hdrs["content-type"], JSON_TYPE)

    # ---- errors of the login path, exact bytes
    def test_bad_signature_is_untrusted(self):
        creds = self.login("mallory")
        sig = ("0" if creds["signature"][0] != "0" else "1") + creds["signature"][1:]
        before = self.sim.stats()["exchanges"]
        status, _, body = self.get_session(login_headers(creds, signature=sig))
        self.assertEqual((status, body), (200, UNTRUSTED))
        # no login write carried the exchange, so it was remembered on its own: the same
        # (single-use) code with the right signature logs in without a second exchange
        status, _, body = self.get_session(login_headers(creds))
        self.assertEqual(status, 200)
        self.assert_user(body, creds)
        self.assertEqual(self.sim.stats()["exchanges"] - before, 1)
        # tampered rawData with the right signature
        creds = self.login("mallory")
        raw = creds["rawData"].replace('"gender":0', '"gender":1')
        self.assertNotEqual(raw, creds["rawData"])
        status, _, body = self.get_session(login_headers(creds, raw=raw))
        self.assertEqual((status, body), (200, UNTRUSTED))

    def test_invalid_code(self):
        creds = self.login("bob")
        status, _, body = self.get_session(login_headers(creds, code="neverissued000000000"))
        self.assertEqual((status, body),
                         (200, exchange_failed('{"errcode":40029,"errmsg":"invalid code"}')))

    def test_code_already_used_elsewhere(self):
        creds = self.login("carol")
        # someone else (another backend) exchanged the code first
        q = urllib.parse.urlencode({"appid": self.server.config["appId"], "secret": APP_SECRET,
                                    "js_code": creds["code"],
                                    "grant_type": "authorization_code"})
        status, _, body = self.sim.request("GET", f"/sns/jscode2session?{q}")
        self.assertEqual(status, 200)
        self.assertIn(b"session_key", body)
        status, _, body = self.get_session(login_headers(creds))
        self.assertEqual((status, body),
                         (200, exchange_failed('{"errcode":40163,"errmsg":"code been used"}')))

    def test_lone_percent_in_rawdata(self):
        creds = self.login("dave")
        exchanges = self.sim.stats()["exchanges"]
        hdrs = login_headers(creds)
        hdrs["X-WX-RawData"] = "%7B%22a%22%3A%201%25%7D%"
        status, _, body = self.get_session(hdrs)
        self.assertEqual((status, body), (200, '{"%s":1,"error":{"name":"URIError",'
                                               '"message":"URI malformed"}}' % MAGIC))
        self.assertEqual(self.sim.stats()["exchanges"], exchanges, "no exchange spent")

    def test_rawdata_not_an_object(self):
        exchanges = self.sim.stats()["exchanges"]
        for raw in ("[1,2]", '"x"', "{bad json", "{\"a\":1} trailing"):
            creds = self.login("erin")
            status, _, body = self.get_session(login_headers(creds, raw=raw))
            self.assertEqual(status, 200)
            doc = json.loads(body)
            self.assertEqual(list(doc), [MAGIC, "error"], "no reason for malformed rawData")
            self.assertEqual(doc["error"]["name"], "SyntaxError")
        self.assertEqual(self.sim.stats()["exchanges"], exchanges,
                         "malformed rawData is refused before spending the code")

    def test_official_signature_vector(self):
        creds = self.login("band", sessionKey=OFFICIAL_KEY, rawData=OFFICIAL_RAW)
        self.assertEqual(creds["signature"], OFFICIAL_SIG)
        status, _, body = self.get_session(login_headers(creds))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["wxUserInfo"]["nickName"], "Band")

    def test_utf8_and_emoji_nickname(self):
        nick = "微信用户😀 \"quoted\" \\ / ok"
        creds = self.login("zhang", nickName=nick)
        status, _, body = self.get_session(login_headers(creds))
        self.assertEqual(status, 200, body)
        self.assertIn(json.dumps(nick, ensure_ascii=False)[1:-1], body, "UTF-8 kept unescaped")
        self.assert_user(body, creds)
        status, _, body = self.get_session({"X-WX-Code": creds["code"]})
        self.assertEqual(json.loads(body)["wxUserInfo"]["nickName"], nick)

    # ---- one live session per user; the original's defects
    def test_relogin_invalidates_old_code(self):
        first = self.login("frank")
        self.assertEqual(self.get_session(login_headers(first))[0], 200)
        second = self.login("frank")
        self.assertEqual(second["openid"], first["openid"])
        status, _, body = self.get_session(login_headers(second))
        self.assertEqual(status, 200, body)
        self.assertEqual(self.get_session({"X-WX-Code": first["code"]})[2], EXPIRED)
        self.assertEqual(json.loads(self.get_session({"X-WX-Code": second["code"]})[2])
                         ["wxUserInfo"]["openId"], first["openid"])

    def test_openid_as_code_is_not_a_session(self):
        creds = self.login("grace")
        self.assertEqual(self.get_session(login_headers(creds))[0], 200)
        status, _, body = self.get_session({"X-WX-Code": creds["openid"]})
        self.assertEqual((status, body), (200, EXPIRED))

    def test_exchange_record_is_not_a_session(self):
        import hashlib
        creds = self.login("heidi")
        self.assertEqual(self.get_session(login_headers(creds))[0], 200)
        key = "exchange:" + hashlib.sha256(creds["code"].encode()).hexdigest()
        status, _, body = self.get_session({"X-WX-Code": key})
        self.assertEqual((status, body), (200, EXPIRED), "the remembered exchange stays hidden")
        self.assertNotIn("session_key", body)

    def test_concurrent_first_requests_share_one_exchange(self):
        creds = self.login("ivan")
        self.sim.configure(latencyMs=200)  # so that the 20 requests overlap
        before = self.sim.stats()["exchanges"]
        results = []

        def one():
            results.append(self.get_session(login_headers(creds)))

        threads = [threading.Thread(target=one) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([r[0] for r in results], [200] * 20)
        for r in results:
            self.assert_user(r[2], creds)
        self.assertEqual(self.sim.stats()["exchanges"] - before, 1, "one exchange for one code")
        # a retried first request later still succeeds from the remembered result
        self.assertEqual(self.get_session(login_headers(creds))[0], 200)
        self.assertEqual(self.sim.stats()["exchanges"] - before, 1)

    # ---- WeChat misbehaving
    def test_wechat_hangs_bounded_by_timeout(self):
        # WeChat never answers: the login still ends, with reason "timeout" (only the configured
        # exchange timeout gives it); the client's 10 s socket timeout is a hang guard. When it
        # ends is not asserted (was: within 3 s, a duration).
        creds = self.login("judy")
        self.sim.configure(failMode="hang", failCount=-1)
        status, _, body = self.get_session(login_headers(creds))
        self.sim.configure(failMode="none")
        self.assertEqual(status, 200)
        self.assertEqual(body, exchange_failed('{"reason":"timeout"}'))

    def test_wechat_reply_not_json(self):
        creds = self.login("ken")
        self.sim.configure(failMode="garbage", failCount=1)
        status, _, body = self.get_session(login_headers(creds))
        self.assertEqual((status, body), (200, exchange_failed('{"reason":"reply is not JSON"}')))

    def test_wechat_http_500_and_busy(self):
        creds = self.login("leo")
        self.sim.configure(failMode="http500", failCount=1)
        status, _, body = self.get_session(login_headers(creds))
        self.assertEqual((status, body), (200, exchange_failed('{"reason":"HTTP 500"}')))
        creds = self.login("leo")
        self.sim.configure(failMode="busy", failCount=1)
        status, _, body = self.get_session(login_headers(creds))
        self.assertEqual((status, body),
                         (200, exchange_failed('{"errcode":-1,"errmsg":"system error"}')))

    # ---- limits
    def test_oversized_header_block(self):
        status, _, body = self.get_session({"X-Big": "a" * 20000})
        self.assertEqual(status, 431)
        self.assertEqual(json.loads(body)["error"]["code"], "ERR_HEADER_TOO_LARGE")
        self.assertEqual(self.get_session()[0], 200, "server keeps serving")

    def test_oversized_rawdata(self):
        creds = self.login("mia")
        raw = json.dumps({"nickName": "x" * 9000})
        status, _, body = self.get_session(login_headers(creds, raw=raw))
        self.assertEqual(status, 431)
        self.assertEqual(json.loads(body)["error"]["code"], "ERR_RAW_DATA_TOO_LARGE")

    def test_oversized_body(self):
        status, _, body = self.server.request("POST", "/applet/session",
                                              {"Content-Type": "application/json"},
                                              b"x" * (1024 * 1024 + 1))
        self.assertEqual(status, 413)
        self.assertEqual(json.loads(body)["error"]["code"], "ERR_BODY_TOO_LARGE")

    def test_code_too_long(self):
        status, _, body = self.get_session({"X-WX-Code": "c" * 300})
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["error"]["code"], "ERR_CODE_TOO_LONG")

    def test_health_and_unknown_route(self):
        status, _, body = self.server.request("GET", "/healthz")
        self.assertEqual((status, json.loads(body)["store"]), (200, "up"))
        status, _, body = self.server.request("GET", "/applet/nope")
        self.assertEqual(status, 404)
        status, _, body = self.server.request("DELETE", "/applet/session")
        self.assertEqual(status, 405)

    def test_pipelined_code_only_requests(self):
        creds = self.login("nina")
        self.assertEqual(self.get_session(login_headers(creds))[0], 200)
        req = (f"GET /applet/session HTTP/1.1\r\nHost: x\r\nX-WX-Code: {creds['code']}\r\n\r\n"
               "GET /applet/session HTTP/1.1\r\nHost: x\r\nX-WX-Code: nope\r\n\r\n") * 5
        req += "GET /applet/session HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        out = raw_exchange(self.server.port, req.encode()).decode()
        bodies = [part.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in part else ""
                  for part in out.split("HTTP/1.1 ")[1:]]
        self.assertEqual(len(bodies), 11)
        for i in range(5):
            self.assertIn(creds["openid"], bodies[2 * i])
            self.assertEqual(bodies[2 * i + 1], EXPIRED)
        self.assertEqual(bodies[10], '{"wxUserInfo":null}')


class RedisStore(SessionProtocol, unittest.TestCase):
    store = "redis"

    @classmethod
    def start_store(cls):
        cls.redis = Redis()
        cls.procs.append(cls.redis)

    @classmethod
    def store_config(cls):
        return {"redis": {"host": "127.0.0.1", "port": cls.redis.port}}

    def assert_store_layout(self, creds):
        value = self.redis.cli("GET", "weapp-session:" + creds["code"])
        self.assertEqual(json.loads(value)["openId"], creds["openid"])
        ttl = int(self.redis.cli("TTL", "weapp-session:" + creds["code"]))
        self.assertTrue(7100 < ttl <= 7200, ttl)
        self.assertEqual(self.redis.cli("GET", "weapp-session:" + creds["openid"]),
                         json.dumps(creds["code"]))

    def test_no_auth_without_password(self):
        stats = self.redis.cli("INFO", "commandstats")
        self.assertIn("cmdstat_get", stats)
        self.assertNotIn("cmdstat_auth", stats, "AUTH is sent only when a password is set")

    def test_redis_stopped_then_back(self):
        creds = self.login("oscar")
        self.assertEqual(self.get_session(login_headers(creds))[0], 200)
        self.redis.stop()
        try:
            status, _, body = self.get_session({"X-WX-Code": creds["code"]})
            self.assertEqual(status, 503, body)
            self.assertEqual(json.loads(body)["error"]["code"], "ERR_STORE_UNAVAILABLE")
            self.assertEqual(self.server.request("GET", "/healthz")[0], 503)
        finally:
            self.redis.restart()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.server.request("GET", "/healthz")[0] == 200:
                break
            time.sleep(0.05)
        # Redis restarted empty (no persistence): the session is gone, the server answers
        status, _, body = self.get_session({"X-WX-Code": creds["code"]})
        self.assertEqual((status, body), (200, EXPIRED))
        creds = self.login("oscar")
        self.assertEqual(self.get_session(login_headers(creds))[0], 200, "recovered, no restart")


class SqliteStore(SessionProtocol, unittest.TestCase):
    store = "sqlite"

    @classmethod
    def start_store(cls):
        cls.db_dir = __import__("tempfile").mkdtemp(prefix="wxs-sqlite-")
        cls.db_path = os.path.join(cls.db_dir, "sessions.db")

    @classmethod
    def store_config(cls):
        return {"sqlite": {"path": cls.db_path}}

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        __import__("shutil").rmtree(cls.db_dir, ignore_errors=True)

    def assert_store_layout(self, creds):
        db = sqlite3.connect(self.db_path)
        try:
            self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "wal")
            rows = dict(db.execute("SELECT key, value FROM kv WHERE key IN (?, ?)",
                                   ("weapp-session:" + creds["code"],
                                    "weapp-session:" + creds["openid"])).fetchall())
        finally:
            db.close()
        self.assertEqual(json.loads(rows["weapp-session:" + creds["code"]])["openId"],
                         creds["openid"])
        self.assertEqual(rows["weapp-session:" + creds["openid"]], json.dumps(creds["code"]))


class RedisWithPassword(unittest.TestCase):
    """AUTH when a password is configured; a wrong one keeps the store down (503)."""

    def setUp(self):
        self.procs = []
        self.sim = Simulator()
        self.procs.append(self.sim)
        self.redis = Redis(password="redis-pa55word")
        self.procs.append(self.redis)

    def tearDown(self):
        for p in reversed(self.procs):
            p.cleanup()

    def start(self, password, healthy=True):
        server = Server({"store": "redis", "wechat": {"apiBase": self.sim.base},
                         "redis": {"port": self.redis.port}},
                        env={"WXS_REDIS_PASSWORD": password}, healthy=healthy)
        self.procs.append(server)
        return server

    def test_right_password(self):
        server = self.start("redis-pa55word")
        creds = self.sim.login("pat")
        status, _, body = server.request("GET", "/applet/session", login_headers(creds))
        self.assertEqual(status, 200, body)
        self.assertIn("cmdstat_auth", self.redis.cli("INFO", "commandstats"))
        self.assertEqual(server.stop(), 0)
        self.assertNotIn("redis-pa55word", server.output())

    def test_wrong_password(self):
        server = self.start("not-the-password", healthy=False)
        time.sleep(0.3)
        status, _, body = server.request("GET", "/applet/session", {"X-WX-Code": "abc"})
        self.assertEqual(status, 503, body)
        self.assertEqual(server.request("GET", "/healthz")[0], 503)
        self.assertEqual(server.stop(), 0)
        self.assertNotIn("not-the-password", server.output())


def pipelined_logins(port, n, code_prefix, forwarded=None):
    """n logins with distinct junk codes (and rawData) pipelined on one connection, then a
    closing anonymous request; returns [(status, body)] of the n logins."""
    fwd = f"X-Forwarded-For: {forwarded}\r\n" if forwarded else ""
    req = "".join(f"GET /applet/session HTTP/1.1\r\nHost: x\r\nX-WX-Code: {code_prefix}{i:04d}"
                  f"\r\nX-WX-RawData: %7B%7D\r\nX-WX-Signature: 0\r\n{fwd}\r\n"
                  for i in range(n))
    req += "GET /applet/session HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answers = split_responses(raw_exchange(port, req.encode(), timeout=30))
    assert len(answers) == n + 1, answers[-3:]
    return [(status, body.decode()) for status, body in answers[:n]]


class LoginLimiter(unittest.TestCase):
    """limits.loginsPerMinute / limits.loginBurst: logins (a code with rawData, each a WeChat
    call) per client address; code-only and anonymous requests are never limited."""

    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator()

    @classmethod
    def tearDownClass(cls):
        cls.sim.cleanup()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="wxs-limiter-")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            status = s.stop()
            s.cleanup()
            self.assertEqual(status, 0)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, per_minute, burst, trust=False):
        server = Server({"store": "sqlite", "wechat": {"apiBase": self.sim.base},
                         "sqlite": {"path": os.path.join(self.tmp, f"s{len(self.servers)}.db")},
                         "limits": {"loginsPerMinute": per_minute, "loginBurst": burst},
                         "trustForwardedFor": trust})
        self.servers.append(server)
        return server

    def login(self, server, user, forwarded=None):
        creds = self.sim.login(user)
        headers = login_headers(creds)
        if forwarded:
            headers["X-Forwarded-For"] = forwarded
        status, _, body = server.request("GET", "/applet/session", headers)
        return creds, status, json.loads(body)

    def assert_too_many(self, status, body):
        self.assertEqual(status, 429, body)
        self.assertEqual(json.loads(body)["error"]["code"], "ERR_TOO_MANY_LOGINS")

    def test_pipelined_flood_spends_only_the_burst(self):
        # the attack: many distinct junk codes with rawData on one connection, each of which
        # would cost a jscode2session call; a rate of 1 a minute adds no token during the test
        server = self.start(per_minute=1, burst=5)
        before = self.sim.stats()["exchanges"]
        answers = pipelined_logins(server.port, 40, "flood")
        self.assertEqual([s for s, _ in answers[:5]], [200] * 5)  # exchanged (and failed)
        for status, body in answers[5:]:
            self.assert_too_many(status, body)
        self.assertEqual(self.sim.stats()["exchanges"] - before, 5, "WeChat calls: the burst only")
        # more requests later still do not reach WeChat
        for status, body in pipelined_logins(server.port, 10, "again"):
            self.assert_too_many(status, body)
        self.assertEqual(self.sim.stats()["exchanges"] - before, 5)

    def test_code_only_and_anonymous_never_limited(self):
        server = self.start(per_minute=1, burst=2)
        creds, status, _ = self.login(server, "lim-ann")
        self.assertEqual(status, 200)
        self.assertEqual(self.login(server, "lim-ben")[1], 200)
        _, status, body = self.login(server, "lim-cid")
        self.assert_too_many(status, json.dumps(body))
        for _ in range(30):
            status, _, body = server.request("GET", "/applet/session",
                                             {"X-WX-Code": creds["code"]})
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["wxUserInfo"]["openId"], creds["openid"])
            status, _, body = server.request("GET", "/applet/session")
            self.assertEqual((status, body), (200, b'{"wxUserInfo":null}'))

    def test_forwarded_for_keys_the_client_when_trusted(self):
        server = self.start(per_minute=1, burst=2, trust=True)
        # nginx appends the address it saw: the last entry is the client, earlier ones are
        # whatever the client claimed
        for i in range(2):
            self.assertEqual(self.login(server, f"fwd-a{i}", "1.2.3.4, 10.0.0.1")[1], 200)
        _, status, body = self.login(server, "fwd-a2", "9.9.9.9, 10.0.0.1")
        self.assert_too_many(status, json.dumps(body))
        # another client address is unaffected, IPv6 too
        self.assertEqual(self.login(server, "fwd-b", "10.0.0.2")[1], 200)
        self.assertEqual(self.login(server, "fwd-c", "2001:db8::1")[1], 200)
        # a /64 is one client
        self.assertEqual(self.login(server, "fwd-d", "2001:db8::2")[1], 200)
        _, status, body = self.login(server, "fwd-e", "2001:db8::3")
        self.assert_too_many(status, json.dumps(body))
        # an entry that is not an address falls back to the peer (127.0.0.1): its own bucket
        self.assertEqual(self.login(server, "fwd-f", "10.0.0.1, not-an-address")[1], 200)

    def test_forwarded_for_ignored_unless_trusted(self):
        server = self.start(per_minute=1, burst=3)
        answers = pipelined_logins(server.port, 3, "peer")
        self.assertEqual([s for s, _ in answers], [200] * 3)
        for i in range(3):  # a client cannot pick a fresh address by claiming one
            status, body = pipelined_logins(server.port, 1, f"spoof{i}", f"10.1.0.{i}")[0]
            self.assert_too_many(status, body)

    def test_bucket_refills(self):
        # a token every 2 s, a bucket of 1: of three pipelined logins the later two find it
        # empty; then a login succeeds again once a token is back (the wait is a hang guard)
        server = self.start(per_minute=30, burst=1)
        answers = pipelined_logins(server.port, 3, "refill")
        self.assertEqual(answers[0][0], 200)
        self.assert_too_many(*answers[1])
        self.assertIn("try again in", json.loads(answers[1][1])["error"]["message"])
        creds = self.sim.login("refill-header")
        status, headers, _ = server.request("GET", "/applet/session", login_headers(creds))
        self.assertEqual(status, 429)
        self.assertIn(headers["retry-after"], ("1", "2"))  # whole seconds to the next token

        def logged_in():
            status = self.login(server, "refill-user")[1]
            self.assertIn(status, (200, 429))
            if status == 429:
                time.sleep(0.2)  # a refused login takes no token: polling does not delay it
            return status == 200

        wait_until(logged_in, "a login after the bucket refilled")


class Health(unittest.TestCase):
    """/livez: the process serves; /readyz (and /healthz, the same): every worker's store."""

    def setUp(self):
        self.procs = []

    def tearDown(self):
        for p in reversed(self.procs):
            p.cleanup()

    def test_live_and_ready_follow_the_store(self):
        sim = Simulator()
        self.procs.append(sim)
        redis = Redis()
        self.procs.append(redis)
        server = Server({"store": "redis", "wechat": {"apiBase": sim.base},
                         "redis": {"port": redis.port}}, workers=2)
        self.procs.append(server)
        for path in ("/readyz", "/healthz"):
            status, _, body = server.request("GET", path)
            self.assertEqual((status, json.loads(body)), (200, {"status": "ok", "store": "up"}))
        self.assertEqual(server.request("GET", "/livez")[:3:2], (200, b'{"status":"ok"}'))

        redis.stop()
        down = {"status": "unavailable", "store": "down", "storeDownWorkers": [0, 1]}

        def every_worker_down():  # each request lands on either worker: both report both
            answers = [server.request("GET", p) for p in ("/readyz", "/healthz") * 4]
            return all((s, json.loads(b)) == (503, down) for s, _, b in answers)

        wait_until(every_worker_down, "/readyz naming both workers' stores")
        for _ in range(8):  # alive all the same
            self.assertEqual(server.request("GET", "/livez")[:3:2], (200, b'{"status":"ok"}'))
        redis.restart()
        wait_until(lambda: all(server.request("GET", "/readyz")[0] == 200 for _ in range(8)),
                   "/readyz back to 200")
        self.assertEqual(server.stop(), 0)

    def test_simulator_only_is_ready(self):
        sim = Simulator()
        self.procs.append(sim)
        for path in ("/livez", "/readyz", "/healthz"):
            self.assertEqual(sim.request("GET", path)[:3:2], (200, b'{"status":"ok"}'))


if __name__ == "__main__":
    unittest.main()
