"""test_token.py: the token protocol against the real server, on SQLite and on Redis (a Sentinel
pair and a Cluster run the core cases too): POST /login, the Bearer token on /session, /me and
the One Stroke routes, /logout and logout all, the per-user cap, idle and absolute expiry (short
options), tampered tokens, one WeChat exchange for concurrent logins with one code, /decrypt with
WeChat's official vector and with the simulator's data (data that does not decrypt makes the
server ask WeChat's checksession: 400 ERR_DECRYPT_FAILED while the session's key is current, 401
ERR_SESSION_KEY_STALE once WeChat rotated it or when WeChat is unreachable), a wrong watermark,
and neither a token nor a session_key in the log or in any answer but the login's. Waits are
hang guards.
"""
import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import unittest

from harness import APP_SECRET, Redis, Server, Simulator, wait_until

BASE = "/applet"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
# WeChat's documented example (appId, session_key, iv, openId; shared/DESIGN.md section 5)
OFFICIAL_APPID = "wx4f4bc4dec97d474b"
OFFICIAL_KEY = "tiihtNczf5v6AKRyjwEUhQ=="
OFFICIAL_IV = "r7BXXKkLb8qrSNn05n0qiA=="
OFFICIAL_OPENID = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
OFFICIAL_DATA = (
    "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+"
    "3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6"
    "/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs"
    "8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns"
    "/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG"
    "20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==")


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


class TokenServer:
    """A simulator and a wxsessiond on the store a mixin names (store_config), and helpers."""
    options = {}  # extra server options (short lifetimes, caps)
    app_id = None

    @classmethod
    def setUpClass(cls):
        cls.procs = []
        cls.tmp = tempfile.mkdtemp(prefix="wxs-token-")
        cls.sim = Simulator({"appId": cls.app_id} if cls.app_id else None)
        cls.procs.append(cls.sim)
        cls.start_store()
        cfg = {"wechat": {"apiBase": cls.sim.base, "timeoutMs": 1000, "connectTimeoutMs": 1000},
               "log": {"access": True}}
        if cls.app_id:
            cfg["appId"] = cls.app_id
        cfg.update(cls.store_config())
        for k, v in cls.options.items():
            cfg.setdefault(k, {}).update(v) if isinstance(v, dict) else cfg.update({k: v})
        cls.server = Server(cfg, env={"WXS_LOG_LEVEL": "debug"})
        cls.procs.append(cls.server)
        cls.answers = []  # every answer's headers and body, but the logins'

    @classmethod
    def start_store(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        status = cls.server.stop()
        log = cls.server.output()
        for p in reversed(cls.procs):
            p.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert status == 0, f"wxsessiond exited with {status}:\n{log[-2000:]}"

    # ---- helpers
    def call(self, method, path, headers=None, body=None, keep=True):
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        h = dict(headers or {})
        if data is not None:
            h["Content-Type"] = "application/json"
        status, hdrs, raw = self.server.request(method, BASE + path, h, data)
        if keep:
            self.answers.append(json.dumps(hdrs).encode() + raw)
        return status, json.loads(raw) if raw else None

    def login(self, user="alice", creds=None, **extra):
        creds = creds or self.sim.login(user, **extra)
        body = {"code": creds["code"]}
        status, answer = self.call("POST", "/login", body=body, keep=False)
        self.assertEqual(status, 200, answer)
        self.assertRegex(answer["token"], TOKEN_RE)
        return answer, creds

    def error(self, status_answer, status, code):
        self.assertEqual(status_answer[0], status, status_answer[1])
        self.assertEqual(status_answer[1]["error"]["code"], code)


class SQLiteStore:
    @classmethod
    def store_config(cls):
        return {"store": "sqlite", "sqlite": {"path": os.path.join(cls.tmp, "s.db")}}


class RedisStore:
    @classmethod
    def start_store(cls):
        cls.redis = Redis()
        cls.procs.append(cls.redis)

    @classmethod
    def store_config(cls):
        return {"store": "redis", "redis": {"port": cls.redis.port}}


class TokenProtocol(TokenServer):
    """The cases."""

    # ---- the cases
    def test_login_then_bearer_everywhere(self):
        answer, creds = self.login("tok-ann")
        self.assertEqual(answer["openId"], creds["openid"])
        self.assertGreater(answer["expiresIn"], 0)
        token = answer["token"]
        status, body = self.call("GET", "/session", bearer(token))
        self.assertEqual(status, 200, body)
        self.assertEqual(body["wxUserInfo"]["openId"], creds["openid"])
        status, me = self.call("GET", "/me", bearer(token))
        self.assertEqual(status, 200, me)
        self.assertEqual(me["openId"], creds["openid"])
        self.assertGreater(me["expiresAt"], 0)
        # One Stroke with the token
        status, saved = self.call("POST", "/session/paints/save", bearer(token),
                                  {"id": "t1", "actions": "[1,2]"})
        self.assertEqual((status, saved["code"]), (200, 0), saved)
        status, listed = self.call("GET", "/session/paints/list", bearer(token))
        self.assertEqual([d["id"] for d in listed["data"]], ["t1"])
        # without a token, /me is 401; a malformed Authorization is 401 everywhere
        self.error(self.call("GET", "/me"), 401, "ERR_TOKEN_INVALID")
        self.error(self.call("GET", "/session", {"Authorization": "Basic abc"}), 401,
                   "ERR_TOKEN_INVALID")

    def test_raw_data_login_keeps_the_user_with_wechats_openid(self):
        creds = self.sim.login("tok-raw")
        raw = json.loads(creds["rawData"])
        status, answer = self.call("POST", "/login", body={
            "code": creds["code"], "rawData": creds["rawData"],
            "signature": creds["signature"]}, keep=False)
        self.assertEqual(status, 200, answer)
        for path in ("/session", "/me"):
            status, body = self.call("GET", path, bearer(answer["token"]))
            self.assertEqual(status, 200, body)
            user = body["wxUserInfo"] if path == "/session" else body["userInfo"]
            self.assertEqual(user["nickName"], raw["nickName"])
            self.assertEqual(user["openId"], creds["openid"])
        # a bad signature is refused, and answers no token
        bad = ("0" if creds["signature"][0] != "0" else "1") + creds["signature"][1:]
        other = self.sim.login("tok-raw")
        self.error(self.call("POST", "/login", body={
            "code": other["code"], "rawData": other["rawData"], "signature": bad}),
            401, "ERR_UNTRUSTED_RAW_DATA")

    def test_logout_and_logout_all(self):
        first, creds = self.login("tok-bob")
        second, _ = self.login("tok-bob")
        third, _ = self.login("tok-bob")
        status, body = self.call("POST", "/logout", bearer(first["token"]), {})
        self.assertEqual((status, body), (200, {"ok": True}))
        self.error(self.call("GET", "/me", bearer(first["token"])), 401, "ERR_TOKEN_INVALID")
        self.assertEqual(self.call("GET", "/me", bearer(second["token"]))[0], 200)
        status, body = self.call("POST", "/logout", bearer(second["token"]), {"all": True})
        self.assertEqual(status, 200, body)
        for t in (second["token"], third["token"]):
            self.error(self.call("GET", "/session", bearer(t)), 401, "ERR_TOKEN_INVALID")

    def test_tampered_tokens(self):
        answer, _ = self.login("tok-cat")
        token = answer["token"]
        flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
        hashed = hashlib.sha256(token.encode()).hexdigest()  # the store's key for it
        for bad in (flipped, token[:-1], token[:20], hashed, token + "A"):
            self.error(self.call("GET", "/me", bearer(bad)), 401, "ERR_TOKEN_INVALID")
        self.assertEqual(self.call("GET", "/me", bearer(token))[0], 200)

    def test_one_exchange_for_concurrent_logins_with_one_code(self):
        creds = self.sim.login("tok-crowd")
        before = self.sim.stats()["exchanges"]
        self.sim.configure(latencyMs=150)
        results = []
        lock = threading.Lock()

        def one():
            r = self.call("POST", "/login", body={"code": creds["code"]}, keep=False)
            with lock:
                results.append(r)
        threads = [threading.Thread(target=one) for _ in range(6)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            self.sim.configure(latencyMs=0)
        self.assertEqual([r[0] for r in results], [200] * 6, results)
        self.assertEqual({r[1]["openId"] for r in results}, {creds["openid"]})
        self.assertEqual(len({r[1]["token"] for r in results}), 6)  # a session each
        self.assertEqual(self.sim.stats()["exchanges"] - before, 1)

    def test_bad_login_bodies(self):
        for body in (b"", b"[]", b"{", json.dumps({"code": 5}).encode(),
                     json.dumps({"nocode": "x"}).encode()):
            self.error(self.call("POST", "/login", body=body), 400, "ERR_BAD_REQUEST")
        status, body = self.call("POST", "/login", body={"code": "never-issued-code"})
        self.assertEqual(status, 502, body)
        self.assertEqual((body["error"]["code"], body["error"]["errcode"],
                          body["error"]["relogin"]), ("ERR_WECHAT", 40029, True))
        self.assertEqual(self.call("GET", "/login")[0], 405)

    def decrypt(self, token, creds):
        return self.call("POST", "/decrypt", bearer(token),
                         {"encryptedData": creds["encryptedData"], "iv": creds["iv"]})

    def test_decrypt_with_the_simulators_data(self):
        creds = self.sim.login("tok-dec")
        answer, _ = self.login(creds=creds)
        checks = self.sim.stats()["sessionChecks"]
        status, plain = self.decrypt(answer["token"], creds)
        self.assertEqual(status, 200, plain)
        self.assertEqual(plain["openId"], creds["openid"])
        self.assertEqual(plain["watermark"]["appid"], self.server.config["appId"])
        self.assertEqual(self.sim.stats()["sessionChecks"], checks, "no check when it decrypts")
        # data of another user (another key) does not decrypt; WeChat says the session's key is
        # current: the data is bad, not the session
        other = self.sim.login("tok-dec-other")
        self.error(self.decrypt(answer["token"], other), 400, "ERR_DECRYPT_FAILED")
        self.assertEqual(self.sim.stats()["sessionChecks"], checks + 1)
        self.error(self.call("POST", "/decrypt", bearer(answer["token"]), {"iv": "x"}), 400,
                   "ERR_BAD_REQUEST")

    def test_decrypt_after_wechat_rotated_the_key(self):
        older = self.sim.login("tok-rot")  # the user's data of an earlier wx.login()
        creds = self.sim.login("tok-rot")
        answer, _ = self.login(creds=creds)
        self.error(self.decrypt(answer["token"], older), 400, "ERR_DECRYPT_FAILED")
        # the user logged in elsewhere: WeChat's key is another one from now on
        status, _, body = self.sim.request("POST", "/__wxsim/rotate-session-key?user=tok-rot",
                                           body=b"")
        self.assertEqual(status, 200, body)
        self.error(self.decrypt(answer["token"], older), 401, "ERR_SESSION_KEY_STALE")
        # data made with the session's own key still opens (WeChat is not asked)
        self.assertEqual(self.decrypt(answer["token"], creds)[0], 200)

    def test_decrypt_after_the_user_logged_in_again(self):
        first, creds = self.login("tok-again")
        second, later = self.login("tok-again")  # this exchange makes its key WeChat's current
        self.error(self.decrypt(first["token"], later), 401, "ERR_SESSION_KEY_STALE")
        self.error(self.decrypt(second["token"], creds), 400, "ERR_DECRYPT_FAILED")
        self.assertEqual(self.decrypt(first["token"], creds)[0], 200)

    def test_no_token_or_session_key_in_logs_or_other_answers(self):
        answer, creds = self.login("tok-audit", sessionKey=base64.b64encode(
            bytes(range(16))).decode())
        token = answer["token"]
        self.call("GET", "/me", bearer(token))
        self.call("GET", "/session", bearer(token))
        wait_until(lambda: "token_login" in self.server.output(), "the audit line")
        log = self.server.output()
        key = base64.b64encode(bytes(range(16))).decode()
        for secret in (token, key, APP_SECRET, creds["code"]):
            self.assertNotIn(secret, log)
            for a in self.answers:
                self.assertNotIn(secret.encode(), a)
        self.assertIn("openIdHash=" + hashlib.sha256(creds["openid"].encode()).hexdigest()[:16],
                      log)


class OnSQLite(SQLiteStore, TokenProtocol, unittest.TestCase):
    pass


class OnRedis(RedisStore, TokenProtocol, unittest.TestCase):
    pass


class Lifetimes(TokenServer):
    """Short lifetimes and a cap of 2 sessions per user."""
    options = {"session": {"tokenIdleSeconds": 2, "tokenMaxSeconds": 4, "tokensPerUser": 2}}

    def test_cap_ends_the_oldest(self):
        first, _ = self.login("tok-cap")
        second, _ = self.login("tok-cap")
        third, _ = self.login("tok-cap")
        self.error(self.call("GET", "/me", bearer(first["token"])), 401, "ERR_TOKEN_INVALID")
        for t in (second["token"], third["token"]):
            self.assertEqual(self.call("GET", "/me", bearer(t))[0], 200)

    def test_idle_expiry(self):
        answer, _ = self.login("tok-idle")
        wait_until(lambda: self.call("GET", "/me", bearer(answer["token"]))[0] == 401,
                   "the idle session ends", timeout=30)
        status, body = self.call("GET", "/me", bearer(answer["token"]))
        self.assertIn(body["error"]["code"], ("ERR_TOKEN_EXPIRED", "ERR_TOKEN_INVALID"))

    def test_absolute_expiry_while_in_use(self):
        answer, _ = self.login("tok-abs")
        # used every 0.3 s (never idle for 2 s), it still ends: the absolute lifetime
        wait_until(lambda: self.call("GET", "/me", bearer(answer["token"]))[0] == 401,
                   "the session ends while in use", timeout=30)


class LifetimesOnSQLite(SQLiteStore, Lifetimes, unittest.TestCase):
    pass


class LifetimesOnRedis(RedisStore, Lifetimes, unittest.TestCase):
    pass


class OfficialVector(SQLiteStore, TokenServer, unittest.TestCase):
    """WeChat's documented example: a session whose session_key is the example's, on a server
    whose appId is the example's, decrypts the example; another appId rejects its watermark."""
    app_id = OFFICIAL_APPID

    def test_official_vector(self):
        answer, _ = self.login("tok-official", sessionKey=OFFICIAL_KEY)
        status, plain = self.call("POST", "/decrypt", bearer(answer["token"]),
                                  {"encryptedData": OFFICIAL_DATA, "iv": OFFICIAL_IV})
        self.assertEqual(status, 200, plain)
        self.assertEqual(plain["openId"], OFFICIAL_OPENID)
        self.assertEqual(plain["watermark"]["appid"], OFFICIAL_APPID)


class WrongWatermark(SQLiteStore, TokenServer, unittest.TestCase):
    """The example's data on a server with another appId: 400 ERR_WATERMARK."""

    def test_wrong_watermark(self):
        answer, _ = self.login("tok-wm", sessionKey=OFFICIAL_KEY)
        self.error(self.call("POST", "/decrypt", bearer(answer["token"]),
                             {"encryptedData": OFFICIAL_DATA, "iv": OFFICIAL_IV}),
                   400, "ERR_WATERMARK")


class DecryptWithoutWeChat(SQLiteStore, TokenServer, unittest.TestCase):
    """WeChat unreachable: a decrypt that fails cannot be checked, so the key is taken as stale
    (401 ERR_SESSION_KEY_STALE: logging in again gives data and a key that match); data that
    decrypts needs no WeChat."""

    def test_decrypt_with_wechat_unreachable(self):
        creds = self.sim.login("tok-down")
        answer, _ = self.login(creds=creds)
        other = self.sim.login("tok-down-other")
        self.assertEqual(self.sim.stop(), 0, self.sim.output()[-2000:])
        self.error(self.call("POST", "/decrypt", bearer(answer["token"]),
                             {"encryptedData": other["encryptedData"], "iv": other["iv"]}),
                   401, "ERR_SESSION_KEY_STALE")
        status, plain = self.call("POST", "/decrypt", bearer(answer["token"]),
                                  {"encryptedData": creds["encryptedData"], "iv": creds["iv"]})
        self.assertEqual((status, plain["openId"]), (200, creds["openid"]), plain)


def _ha_or_skip(cls, start):
    """start() (a Cluster or a Sentinel pair) in setUpClass, or skip the class, stopping what
    cls.procs holds first (tearDownClass does not run after a failed setUpClass)."""
    try:
        return start()
    except BaseException:
        for p in reversed(cls.procs):
            p.cleanup()
        raise


class OnRedisCluster(TokenProtocol, unittest.TestCase):
    """The core cases on a Redis Cluster (3 primaries + 3 replicas): the record and the user's
    index live in different slots, written as ordered single-key steps; and the cap there."""

    @classmethod
    def start_store(cls):
        from redis_ha import cluster_or_skip
        cls.cluster = _ha_or_skip(cls, lambda: cluster_or_skip(cls, cls.procs))
        cls.procs.append(cls.cluster)

    @classmethod
    def store_config(cls):
        return {"store": "redis", "redis": {"cluster": cls.cluster.seeds()}}

    def test_cap_and_layout_on_the_cluster(self):
        tokens = [self.login("tok-cluster-cap")[0]["token"] for _ in range(11)]  # the cap is 10
        self.error(self.call("GET", "/me", bearer(tokens[0])), 401, "ERR_TOKEN_INVALID")
        for t in tokens[1:]:
            self.assertEqual(self.call("GET", "/me", bearer(t))[0], 200)
        openid = self.call("GET", "/me", bearer(tokens[-1]))[1]["openId"]
        index = "weapp-session:tokens:" + openid
        node = self.cluster.nodes[0]
        listed = node.cli("ZRANGE", index, "0", "-1", follow=True).split()
        self.assertEqual(sorted(listed),
                         sorted(hashlib.sha256(t.encode()).hexdigest() for t in tokens[1:]))
        record = json.loads(self.cluster.get("weapp-session:token:" + listed[-1]))
        self.assertEqual(record["openId"], openid)
        self.assertGreater(int(node.cli("TTL", index, follow=True)), 0)
        status, body = self.call("POST", "/logout", bearer(tokens[1]), {"all": True})
        self.assertEqual(status, 200, body)
        self.assertEqual(node.cli("EXISTS", index, follow=True), "0")
        for t in tokens[1:]:
            self.error(self.call("GET", "/me", bearer(t)), 401, "ERR_TOKEN_INVALID")


class OnSentinelPair(TokenProtocol, unittest.TestCase):
    """The core cases on a Sentinel-managed pair (a primary, its replica, 3 Sentinels): the
    server finds the primary through Sentinel, and a session's write waits for the replica."""

    @classmethod
    def start_store(cls):
        from redis_ha import MASTER, SentinelPair
        program = shutil.which("redis-sentinel") or shutil.which("redis-sentinel",
                                                                 path="/usr/sbin:/sbin")
        if program is None:
            print("skipped: redis-sentinel not installed (Debian's redis-sentinel package)")
            for p in reversed(cls.procs):
                p.cleanup()
            raise unittest.SkipTest("redis-sentinel not installed")
        cls.pair = _ha_or_skip(cls, lambda: SentinelPair(program))
        cls.procs += cls.pair.procs()
        cls.master = MASTER

    @classmethod
    def store_config(cls):
        return {"store": "redis", "redis": {"sentinels": cls.pair.sentinel_list(),
                                            "masterName": cls.master}}

    def test_the_session_is_on_the_replica_when_acknowledged(self):
        from redis_ha import call
        answer, _ = self.login("tok-sentinel")
        key = "weapp-session:token:" + hashlib.sha256(answer["token"].encode()).hexdigest()
        replica = next(p for p in self.pair.nodes if p != self.pair.primary_port())
        record = json.loads(call(replica, "GET", key))  # WAIT 1 (the default with Sentinel)
        self.assertEqual(record["openId"], answer["openId"])
        index = "weapp-session:tokens:" + answer["openId"]
        self.assertEqual(call(replica, "ZRANGE", index, 0, -1), [key.rsplit(":", 1)[1].encode()])


if __name__ == "__main__":
    unittest.main()
