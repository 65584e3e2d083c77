"""test_phone.py: POST {routeBasePath}/phone against the real wxsessiond and the simulator as
WeChat: the phone_info of a code the simulator issued for the session's user; single-use codes,
another user's code and unknown codes (400 ERR_PHONE_CODE_INVALID); token and body errors that
never reach WeChat; WeChat's quota answers (429 ERR_WECHAT_QUOTA with Retry-After) and its busy
answer (502), none retried; a forced access_token invalidation that recovers with one refresh
and one retry; the app's credentials refused and WeChat unreachable (502 ERR_WECHAT). At the
end of each class, the server's log holds no phone number, phone code, access_token, session
key or app secret.
"""
import base64
import json
import os
import shutil
import tempfile
import unittest
import urllib.parse

from harness import APP_ID, APP_SECRET, Server, Simulator

BASE = "/applet"
WRONG_SECRET = "wr0ng-app-secret-0123456789abcdef"
PHONE_INFO_KEYS = {"phoneNumber", "purePhoneNumber", "countryCode", "watermark"}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


class PhoneServer:
    """A simulator and a wxsessiond (SQLite store) on it; every secret a test meets is kept in
    cls.secrets and must be absent from the server's log at the end of the class."""
    workers = 2

    @classmethod
    def setUpClass(cls):
        cls.procs = []
        cls.tmp = tempfile.mkdtemp(prefix="wxs-phone-")
        cls.secrets = {APP_SECRET}
        cls.sim = Simulator()
        cls.procs.append(cls.sim)
        try:
            cls.server = cls.start_server()
        except BaseException:
            cls.stop_all()
            raise

    @classmethod
    def start_server(cls, secret=APP_SECRET, name="wxsessiond"):
        cfg = {"appSecret": secret,
               "wechat": {"apiBase": cls.sim.base, "timeoutMs": 2000, "connectTimeoutMs": 1000},
               "store": "sqlite", "sqlite": {"path": os.path.join(cls.tmp, "s.db")},
               "log": {"access": True}}
        server = Server(cfg, env={"WXS_LOG_LEVEL": "debug"}, name=name, workers=cls.workers)
        cls.procs.append(server)
        return server

    @classmethod
    def stop_all(cls):
        for p in reversed(cls.procs):
            p.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        servers = [p for p in cls.procs if isinstance(p, Server) and not isinstance(p, Simulator)]
        results = [(s.name, s.stop(), s.output()) for s in servers]
        cls.secrets.update(cls.access_tokens_now())
        cls.stop_all()
        for name, status, log in results:
            assert status == 0, f"{name} exited with {status}:\n{log[-3000:]}"
            for secret in cls.secrets:
                assert secret not in log, f"{name}'s log holds a secret ({secret[:4]}...)"

    @classmethod
    def access_tokens_now(cls):
        """The simulator's current access_token (stable_token in normal mode answers it), or
        nothing when the simulator is down."""
        if cls.sim.proc.poll() is not None:
            return set()
        body = json.dumps({"grant_type": "client_credential", "appid": APP_ID,
                           "secret": APP_SECRET, "force_refresh": False}).encode()
        status, _, raw = cls.sim.request("POST", "/cgi-bin/stable_token",
                                         {"Content-Type": "application/json"}, body)
        token = json.loads(raw).get("access_token") if status == 200 else None
        return {token} if token else set()

    # ---- helpers
    def login(self, user, server=None):
        """A token session of test user `user` (its session_key chosen here, so it is known)."""
        key = base64.b64encode(os.urandom(16)).decode()
        creds = self.sim.login(user, sessionKey=key)
        self.secrets.update({key, creds["code"]})
        status, _, raw = (server or self.server).request(
            "POST", BASE + "/login", {"Content-Type": "application/json"},
            json.dumps({"code": creds["code"]}).encode())
        self.assertEqual(status, 200, raw)
        answer = json.loads(raw)
        self.secrets.add(answer["token"])
        return answer["token"], creds

    def phone_code(self, user, **extra):
        q = urllib.parse.urlencode(dict(user=user, **extra))
        status, _, raw = self.sim.request("GET", f"/__wxsim/phone-code?{q}")
        self.assertEqual(status, 200, raw)
        issued = json.loads(raw)
        self.secrets.update({issued["code"], issued["phoneNumber"], issued["purePhoneNumber"]})
        return issued

    def phone(self, token, body, server=None, method="POST"):
        """POST /phone: (status, headers, parsed body or None). body: a dict or raw bytes."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers.update(bearer(token))
        status, hdrs, raw = (server or self.server).request(method, BASE + "/phone", headers,
                                                            data)
        for secret in (APP_SECRET, WRONG_SECRET):
            self.assertNotIn(secret.encode(), raw)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        return status, hdrs, parsed

    def error(self, answer, status, code):
        self.assertEqual(answer[0], status, answer[2])
        self.assertEqual(answer[2]["error"]["code"], code, answer[2])
        return answer[2]["error"]

    def calls(self):
        return self.sim.stats()["phoneCalls"]

    def assert_phone_info(self, answer, issued):
        status, hdrs, info = answer
        self.assertEqual(status, 200, info)
        self.assertEqual(set(info), PHONE_INFO_KEYS, info)
        self.assertEqual((info["phoneNumber"], info["purePhoneNumber"], info["countryCode"]),
                         (issued["phoneNumber"], issued["purePhoneNumber"],
                          issued["countryCode"]))
        self.assertEqual(info["watermark"]["appid"], APP_ID)
        self.assertIsInstance(info["watermark"]["timestamp"], int)
        self.assertIn("no-store", hdrs.get("cache-control", ""))


class Phone(PhoneServer, unittest.TestCase):
    """The route's answers, one server and simulator for the class; the simulator's settings go
    back to their defaults before each case."""

    def setUp(self):
        self.sim.configure(failMode="none", phoneQuota=-1, phonePerMinute=10000)

    def test_the_users_number(self):
        token, creds = self.login("ph-alice")
        issued = self.phone_code("ph-alice")
        self.assertEqual(issued["openid"], creds["openid"])
        self.assert_phone_info(self.phone(token, {"code": issued["code"]}), issued)
        # a number and country of the test's choosing come back as issued
        issued = self.phone_code("ph-alice", phone="5551234567", country="1")
        self.assertEqual(issued["phoneNumber"], "+15551234567")
        self.assert_phone_info(self.phone(token, {"code": issued["code"]}), issued)

    def test_codes_are_single_use_and_the_users_own(self):
        token, _ = self.login("ph-bob")
        issued = self.phone_code("ph-bob")
        self.assert_phone_info(self.phone(token, {"code": issued["code"]}), issued)
        err = self.error(self.phone(token, {"code": issued["code"]}), 400,
                         "ERR_PHONE_CODE_INVALID")
        self.assertNotIn(issued["phoneNumber"], json.dumps(err))
        # another user's code: the session's openid goes with it, WeChat refuses it
        other = self.phone_code("ph-carol")
        self.error(self.phone(token, {"code": other["code"]}), 400, "ERR_PHONE_CODE_INVALID")
        for code in ("never-issued-code", "a" * 1024):  # 1024 bytes: still asked
            before = self.calls()
            self.error(self.phone(token, {"code": code}), 400, "ERR_PHONE_CODE_INVALID")
            self.assertEqual(self.calls() - before, 1, code[:20])
        # carol's code is still good for carol
        carol, _ = self.login("ph-carol")
        self.assert_phone_info(self.phone(carol, {"code": other["code"]}), other)

    def test_token_errors_never_ask_wechat(self):
        token, _ = self.login("ph-dave")
        issued = self.phone_code("ph-dave")
        before = self.calls()
        flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
        for bad in (None, "", "not-a-token", flipped, token[:-1]):
            self.error(self.phone(bad, {"code": issued["code"]}), 401, "ERR_TOKEN_INVALID")
        # a logged-out token
        gone, _ = self.login("ph-dave")
        status, _, raw = self.server.request("POST", BASE + "/logout", bearer(gone), b"{}")
        self.assertEqual(status, 200, raw)
        self.error(self.phone(gone, {"code": issued["code"]}), 401, "ERR_TOKEN_INVALID")
        self.assertEqual(self.calls(), before)
        # the code was not spent
        self.assert_phone_info(self.phone(token, {"code": issued["code"]}), issued)

    def test_bad_bodies_and_methods(self):
        token, _ = self.login("ph-erin")
        before = self.calls()
        for body in (b"{}", json.dumps({"code": 5}).encode(), json.dumps({"code": ""}).encode(),
                     json.dumps({"code": None}).encode(), json.dumps({"code": ["x"]}).encode(),
                     b"not json", b"", b"[]", b"{\"code\":",
                     json.dumps({"code": "a" * 1025}).encode()):
            self.error(self.phone(token, body), 400, "ERR_BAD_REQUEST")
        for method in ("GET", "PUT", "DELETE"):
            self.assertEqual(self.phone(token, None, method=method)[0], 405, method)
        self.assertEqual(self.calls(), before)

    def test_billed_quota_exhausted_is_not_retried(self):
        token, _ = self.login("ph-frank")
        issued = self.phone_code("ph-frank")
        self.sim.configure(phoneQuota=0)
        before = self.calls()
        status, hdrs, body = self.phone(token, {"code": issued["code"]})
        err = self.error((status, hdrs, body), 429, "ERR_WECHAT_QUOTA")
        self.assertEqual(err["errcode"], 1400001)
        self.assertTrue(hdrs.get("retry-after", "").isdigit(), hdrs)
        self.assertEqual(self.calls() - before, 1)
        # 1400001 does not use the code up
        self.sim.configure(phoneQuota=-1)
        self.assert_phone_info(self.phone(token, {"code": issued["code"]}), issued)

    def test_frequency_limit_is_not_retried(self):
        token, _ = self.login("ph-grace")
        issued = self.phone_code("ph-grace")
        self.sim.configure(phonePerMinute=1)
        # the count is per wall-clock minute: a call may open a new minute and pass; the next
        # one in that minute is the second
        for _ in range(3):
            before = self.calls()
            status, hdrs, body = self.phone(token, {"code": issued["code"]})
            self.assertEqual(self.calls() - before, 1)
            if status != 200:
                break
            issued = self.phone_code("ph-grace")
        err = self.error((status, hdrs, body), 429, "ERR_WECHAT_QUOTA")
        self.assertEqual(err["errcode"], 45011)
        self.assertTrue(hdrs.get("retry-after", "").isdigit(), hdrs)
        self.sim.configure(phonePerMinute=10000)
        self.assert_phone_info(self.phone(token, {"code": issued["code"]}), issued)

    def test_wechat_busy_is_not_retried(self):
        token, _ = self.login("ph-heidi")
        issued = self.phone_code("ph-heidi")
        self.sim.configure(failMode="busy", failCount=1)
        before = self.calls()
        err = self.error(self.phone(token, {"code": issued["code"]}), 502, "ERR_WECHAT")
        self.assertEqual(err["errcode"], -1)
        self.assertEqual(self.calls() - before, 1)
        self.assert_phone_info(self.phone(token, {"code": issued["code"]}), issued)


class ForcedInvalidation(PhoneServer, unittest.TestCase):
    """Another party's force_refresh between two calls: 40001 once, one refresh, one retry."""

    def test_invalidated_token_recovers_once(self):
        token, _ = self.login("ph-ivan")
        first = self.phone_code("ph-ivan")
        self.assert_phone_info(self.phone(token, {"code": first["code"]}), first)
        self.secrets.update(self.access_tokens_now())  # the token the server holds
        status, _, raw = self.sim.request("POST", "/__wxsim/invalidate-token", body=b"")
        self.assertEqual(status, 200, raw)
        issued = self.phone_code("ph-ivan")
        before = self.sim.stats()
        self.assert_phone_info(self.phone(token, {"code": issued["code"]}), issued)
        after = self.sim.stats()
        self.assertEqual(after["apiErrors"].get("40001", 0) - before["apiErrors"].get("40001", 0),
                         1, after)
        self.assertEqual(after["apiErrors"].get("40001", 0), 1, after)
        self.assertEqual(after["tokenFetches"] - before["tokenFetches"], 1, after)
        self.assertEqual(after["phoneCalls"] - before["phoneCalls"], 2, after)
        self.assertEqual(after["forceRefreshes"], 0, "the library never forces a refresh")


class CredentialsRefused(PhoneServer, unittest.TestCase):
    """A second wxsessiond on the same store with a wrong appSecret: a session made by the first
    one is found, but the access_token fetch is refused (40125): 502 ERR_WECHAT, no phone call,
    neither secret in an answer or a log."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.secrets.add(WRONG_SECRET)
        try:
            cls.wrong = cls.start_server(WRONG_SECRET, name="wxsessiond-wrong")
        except BaseException:
            cls.stop_all()
            raise

    def test_refused_credentials(self):
        token, _ = self.login("ph-judy")
        self.assertEqual(self.sim.stats()["tokenFetches"], 0, "no token stored yet")
        status, _, raw = self.wrong.request("GET", BASE + "/me", bearer(token))
        self.assertEqual(status, 200, raw)
        issued = self.phone_code("ph-judy")
        err = self.error(self.phone(token, {"code": issued["code"]}, server=self.wrong), 502,
                         "ERR_WECHAT")
        self.assertNotIn(issued["phoneNumber"], json.dumps(err))
        stats = self.sim.stats()
        self.assertEqual(stats["phoneCalls"], 0, stats)
        self.assertGreaterEqual(stats["tokenErrors"].get("40125", 0), 1, stats)
        self.assertEqual(stats["tokenFetches"], 0, stats)
        # the right credentials still work, and the code was not spent
        self.assert_phone_info(self.phone(token, {"code": issued["code"]}), issued)


class WeChatUnreachable(PhoneServer, unittest.TestCase):
    """The simulator stopped: 502 ERR_WECHAT, and the server goes on serving sessions."""

    def test_simulator_stopped(self):
        token, _ = self.login("ph-kim")
        first = self.phone_code("ph-kim")
        self.assert_phone_info(self.phone(token, {"code": first["code"]}), first)
        issued = self.phone_code("ph-kim")
        self.secrets.update(self.access_tokens_now())
        self.assertEqual(self.sim.stop(), 0, self.sim.output()[-2000:])
        self.error(self.phone(token, {"code": issued["code"]}), 502, "ERR_WECHAT")
        status, _, raw = self.server.request("GET", BASE + "/me", bearer(token))
        self.assertEqual(status, 200, raw)
        self.assertEqual(self.server.request("GET", "/healthz")[0], 200)


if __name__ == "__main__":
    unittest.main()
