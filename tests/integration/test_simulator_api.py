"""test_simulator_api.py: the simulator's WeChat server APIs over HTTP (docs/simulator.md):
cgi-bin/stable_token (normal mode, renew window, force_refresh, quota), the access_token check,
wxa/business/getuserphonenumber with /__wxsim/phone-code, wxa/checksession and
wxa/resetusersessionkey with /__wxsim/rotate-session-key, /__wxsim/invalidate-token and the
counters in /__wxsim/stats.

Waits are bounded polls (harness.wait_until); nothing asserts how long anything took.
"""
import base64
import hashlib
import hmac
import json
import unittest
import urllib.parse

from harness import APP_ID, APP_SECRET, Simulator, wait_until

# WeChat's public vector for the user login state signature (hmac_sha256, session_key as key)
VECTOR_KEY = "o0q0otL8aEzpcZL/FT9WsQ=="
VECTOR_BODY = '{"foo":"bar"}'
VECTOR_SIG = "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b"


def session_signature(session_key, body=""):
    return hmac.new(session_key.encode(), body.encode(), hashlib.sha256).hexdigest()


class SimulatorApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator()

    @classmethod
    def tearDownClass(cls):
        status = cls.sim.stop()
        log = cls.sim.output()
        cls.sim.cleanup()
        assert status == 0, f"simulator exited with {status}:\n{log[-3000:]}"

    def setUp(self):
        self.sim.reset()

    # ---- helpers

    def call(self, method, path, body=None, **query):
        """(HTTP status, parsed JSON) of one request; body: a dict (sent as JSON) or bytes."""
        if query:
            path += "?" + urllib.parse.urlencode(query)
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if body else {}
        status, _, data = self.sim.request(method, path, headers, body)
        return status, json.loads(data)

    def wechat(self, method, path, body=None, **query):
        """A WeChat API call: always HTTP 200; the parsed answer."""
        status, doc = self.call(method, path, body, **query)
        self.assertEqual(status, 200, doc)
        return doc

    def fetch_raw(self, force=False, **over):
        body = {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET,
                "force_refresh": force}
        body.update(over)
        return self.wechat("POST", "/cgi-bin/stable_token", body)

    def fetch(self, force=False):
        """A token from stable_token: (token, expires_in)."""
        doc = self.fetch_raw(force)
        self.assertEqual(set(doc), {"access_token", "expires_in"}, doc)
        return doc["access_token"], doc["expires_in"]

    def errcode(self, doc):
        return doc.get("errcode", 0)

    def token_state(self, token):
        """The access_token check's errcode for token, through checksession with an openid that
        has no key: 87009 means the token itself was accepted."""
        return self.errcode(self.wechat("GET", "/wxa/checksession", access_token=token,
                                        openid="o" + "x" * 27, signature="00",
                                        sig_method="hmac_sha256"))

    def config(self, **settings):
        status, doc = self.call("POST", "/__wxsim/config", settings)
        return status, doc

    def session_key_of(self, user, **extra):
        """Logs user in and exchanges the code as an app would: (openid, session_key)."""
        creds = self.sim.login(user, **extra)
        doc = self.wechat("GET", "/sns/jscode2session", appid=APP_ID, secret=APP_SECRET,
                          js_code=creds["code"], grant_type="authorization_code")
        self.assertEqual(doc["openid"], creds["openid"])
        return doc["openid"], doc["session_key"]

    def check(self, token, openid, key, method="hmac_sha256", path="/wxa/checksession"):
        return self.wechat("GET", path, access_token=token, openid=openid,
                           signature=session_signature(key), sig_method=method)

    def phone_code(self, user, **extra):
        status, doc = self.call("GET", "/__wxsim/phone-code", user=user, **extra)
        self.assertEqual(status, 200, doc)
        return doc

    def phone(self, token, body):
        return self.wechat("POST", "/wxa/business/getuserphonenumber", body,
                           access_token=token)

    # ---- stable_token

    def test_same_token_while_valid(self):
        t1, e1 = self.fetch()
        t2, e2 = self.fetch()
        self.assertEqual(t1, t2)
        self.assertTrue(7200 - 300 < e2 <= e1 <= 7200, (e1, e2))
        self.assertEqual(self.token_state(t1), 87009)
        stats = self.sim.stats()
        self.assertEqual((stats["tokenFetches"], stats["tokensIssued"],
                          stats["forceRefreshes"]), (2, 1, 0))

    def test_renew_window_then_expiry(self):
        status, doc = self.config(tokenLifetimeS=8, tokenRenewS=5)
        self.assertEqual(status, 200, doc)
        self.assertEqual((doc["tokenLifetimeS"], doc["tokenRenewS"]), (8, 5))
        old, expires = self.fetch()
        self.assertTrue(5 < expires <= 8, expires)
        seen = {}

        def renewed():
            token, left = self.fetch()
            seen["new"], seen["left"] = token, left
            return token != old
        wait_until(renewed, "a new token in the renew window")
        new = seen["new"]
        self.assertTrue(5 < seen["left"] <= 8, seen)
        # the old token stays valid until its own expiry, then answers 42001 (known, expired)
        self.assertEqual(self.token_state(old), 87009)
        self.assertEqual(self.token_state(new), 87009)
        self.assertEqual(self.fetch()[0], new)
        wait_until(lambda: self.token_state(old) == 42001, "the old token expired")
        doc = self.wechat("GET", "/wxa/checksession", access_token=old, openid="o",
                          signature="00", sig_method="hmac_sha256")
        self.assertEqual(doc, {"errcode": 42001, "errmsg": "access_token expired"})
        # by now the new token is in its own renew window: the next fetch makes a third
        third, _ = self.fetch()
        self.assertNotIn(third, (old, new))
        self.assertEqual(self.token_state(third), 87009)
        stats = self.sim.stats()
        self.assertEqual(stats["tokensIssued"], 3)
        self.assertGreaterEqual(stats["apiErrors"]["42001"], 2, stats)

    def test_force_refresh_invalidates_earlier_tokens(self):
        t1, _ = self.fetch()
        t2, expires = self.fetch(force=True)
        self.assertNotEqual(t1, t2)
        self.assertEqual(expires, 7200)
        doc = self.wechat("GET", "/wxa/checksession", access_token=t1, openid="o",
                          signature="00", sig_method="hmac_sha256")
        self.assertEqual(doc, {"errcode": 40001, "errmsg":
                               "invalid credential, access_token is invalid or not latest"})
        self.assertEqual(self.token_state(t2), 87009)
        self.assertEqual(self.fetch()[0], t2)
        stats = self.sim.stats()
        self.assertEqual((stats["tokenFetches"], stats["tokensIssued"],
                          stats["forceRefreshes"]), (3, 2, 1))
        self.assertEqual(stats["apiErrors"], {"40001": 1, "87009": 1})

    def test_invalidate_token_as_another_party(self):
        t1, _ = self.fetch()
        status, doc = self.call("POST", "/__wxsim/invalidate-token", b"")
        self.assertEqual((status, doc), (200, {"ok": True}))
        self.assertEqual(self.token_state(t1), 40001)
        t2, _ = self.fetch()
        self.assertNotEqual(t1, t2)
        self.assertEqual(self.token_state(t2), 87009)
        self.assertEqual(self.fetch()[0], t2)
        stats = self.sim.stats()
        self.assertEqual((stats["tokenFetches"], stats["tokensIssued"],
                          stats["tokenInvalidations"], stats["forceRefreshes"]), (3, 2, 1, 0))
        self.assertEqual(self.call("GET", "/__wxsim/invalidate-token")[0], 405)

    def test_fetch_errors(self):
        cases = [
            ({"appid": "wx0000000000000000"}, 40013, "invalid appid"),
            ({"appid": None}, 40013, "invalid appid"),
            ({"secret": "wrong"}, 40125, "invalid appsecret"),
            ({"grant_type": "authorization_code"}, 40002, "invalid grant_type"),
            ({"grant_type": None}, 40002, "invalid grant_type"),
        ]
        for over, errcode, errmsg in cases:
            with self.subTest(over=over):
                body = {"grant_type": "client_credential", "appid": APP_ID,
                        "secret": APP_SECRET}
                body.update(over)
                body = {k: v for k, v in body.items() if v is not None}
                doc = self.wechat("POST", "/cgi-bin/stable_token", body)
                self.assertEqual(doc, {"errcode": errcode, "errmsg": errmsg})
        self.assertEqual(self.wechat("POST", "/cgi-bin/stable_token", b""),
                         {"errcode": 44002, "errmsg": "empty post data"})
        for bad in (b"{", b"[]", b"grant_type=client_credential"):
            self.assertEqual(self.errcode(self.wechat("POST", "/cgi-bin/stable_token", bad)),
                             40002, bad)
        self.assertEqual(self.errcode(self.wechat("GET", "/cgi-bin/stable_token")), 43002)
        stats = self.sim.stats()
        self.assertEqual((stats["tokenFetches"], stats["tokensIssued"]), (0, 0))
        self.assertEqual(stats["tokenErrors"],
                         {"40013": 2, "40125": 1, "40002": 5, "44002": 1, "43002": 1})

    def test_quota_per_minute(self):
        status, _ = self.config(tokenQuotaPerMinute=3)
        self.assertEqual(status, 200)
        # a minute may turn between the calls: within 2 * 3 + 1 calls the quota must bite
        answers = [self.fetch_raw() for _ in range(7)]
        codes = [self.errcode(a) for a in answers]
        self.assertIn(45009, codes)
        first = codes.index(45009)
        self.assertTrue(3 <= first <= 6, codes)
        self.assertEqual(answers[first], {"errcode": 45009,
                                          "errmsg": "reach max api daily quota limit"})
        stats = self.sim.stats()
        self.assertEqual(stats["tokenFetches"], codes.count(0))
        self.assertEqual(stats["tokenErrors"], {"45009": codes.count(45009)})

    def test_access_token_missing_or_unknown(self):
        doc = self.wechat("GET", "/wxa/checksession", openid="o", signature="00",
                          sig_method="hmac_sha256")
        self.assertEqual(doc, {"errcode": 41001, "errmsg": "access_token missing"})
        self.assertEqual(self.token_state(""), 41001)
        self.assertEqual(self.token_state("not-a-token"), 40001)
        self.assertEqual(self.token_state("%zz"), 40001)
        doc = self.phone("A" * 136, {"code": "x"})
        self.assertEqual(self.errcode(doc), 40001)
        stats = self.sim.stats()
        self.assertEqual(stats["apiCalls"], 5)
        self.assertEqual(stats["apiErrors"], {"41001": 2, "40001": 3})

    # ---- phone numbers

    def test_phone_code_single_use_and_bound_to_its_user(self):
        token, _ = self.fetch()
        creds = self.sim.login("ph-alice")
        issued = self.phone_code("ph-alice")
        self.assertEqual(issued["openid"], creds["openid"])
        self.assertEqual(issued["countryCode"], "86")
        pure = issued["purePhoneNumber"]
        self.assertRegex(pure, r"^138[0-9]{8}$")
        self.assertEqual(issued["phoneNumber"], "+86" + pure)
        self.assertEqual(self.phone_code("ph-alice")["purePhoneNumber"], pure)  # stable
        # another user's openid: refused, and the code stays usable
        other = self.phone_code("ph-bob")["openid"]
        self.assertEqual(self.phone(token, {"code": issued["code"], "openid": other}),
                         {"errcode": 40029, "errmsg": "invalid code"})
        self.assertEqual(self.errcode(self.phone(token, {"code": issued["code"], "openid": 7})),
                         40029)
        doc = self.phone(token, {"code": issued["code"], "openid": creds["openid"]})
        self.assertEqual((doc["errcode"], doc["errmsg"]), (0, "ok"), doc)
        info = doc["phone_info"]
        self.assertEqual((info["phoneNumber"], info["purePhoneNumber"], info["countryCode"]),
                         ("+86" + pure, pure, "86"))
        self.assertEqual(info["watermark"]["appid"], APP_ID)
        self.assertIsInstance(info["watermark"]["timestamp"], int)
        # single use; unknown codes; no code
        self.assertEqual(self.errcode(self.phone(token, {"code": issued["code"]})), 40029)
        self.assertEqual(self.errcode(self.phone(token, {"code": "never-issued"})), 40029)
        self.assertEqual(self.errcode(self.phone(token, {})), 40029)
        self.assertEqual(self.errcode(self.phone(token, b"")), 44002)
        self.assertEqual(self.errcode(self.phone(token, b"{")), 47001)
        # a number of our choosing, without openid in the body
        chosen = self.phone_code("ph-carol", phone="5551234", country="1")
        doc = self.phone(token, {"code": chosen["code"]})
        self.assertEqual(doc["phone_info"]["phoneNumber"], "+15551234", doc)
        for bad in ({"phone": "12ab"}, {"country": "+86"}, {"user": "no spaces"}):
            status, _ = self.call("GET", "/__wxsim/phone-code", **dict({"user": "x"}, **bad))
            self.assertEqual(status, 400, bad)
        stats = self.sim.stats()
        self.assertEqual((stats["phoneCalls"], stats["phoneNumbers"]), (9, 2))
        self.assertEqual(stats["apiErrors"], {"40029": 5, "44002": 1, "47001": 1})

    def test_phone_quota_exhausted(self):
        token, _ = self.fetch()
        status, _ = self.config(phoneQuota=1)
        self.assertEqual(status, 200)
        first = self.phone_code("ph-q")["code"]
        self.assertEqual(self.errcode(self.phone(token, {"code": first})), 0)
        second = self.phone_code("ph-q")["code"]
        self.assertEqual(self.phone(token, {"code": second}),
                         {"errcode": 1400001, "errmsg": "quota exhausted"})
        self.assertEqual(self.config(phoneQuota=-1)[0], 200)
        self.assertEqual(self.errcode(self.phone(token, {"code": second})), 0)

    def test_phone_frequency_limit_and_busy(self):
        token, _ = self.fetch()
        code = self.phone_code("ph-f")["code"]
        self.assertEqual(self.config(failMode="busy", failCount=1)[0], 200)
        self.assertEqual(self.phone(token, {"code": code}),
                         {"errcode": -1, "errmsg": "system error"})
        self.assertEqual(self.errcode(self.phone(token, {"code": code})), 0)
        self.assertEqual(self.config(phonePerMinute=2)[0], 200)
        codes = [self.errcode(self.phone(token, {"code": "unknown"})) for _ in range(5)]
        self.assertIn(45011, codes)
        self.assertLessEqual(set(codes), {40029, 45011}, codes)

    # ---- session keys

    def test_signature_vector(self):
        self.assertEqual(hmac.new(VECTOR_KEY.encode(), VECTOR_BODY.encode(),
                                  hashlib.sha256).hexdigest(), VECTOR_SIG)

    def test_checksession(self):
        token, _ = self.fetch()
        openid, key = self.session_key_of("ck-alice", sessionKey=VECTOR_KEY)
        self.assertEqual(key, VECTOR_KEY)
        self.assertEqual(self.check(token, openid, key), {"errcode": 0, "errmsg": "ok"})
        self.assertEqual(self.wechat("GET", "/wxa/checksession", access_token=token,
                                     openid=openid, signature=VECTOR_SIG,
                                     sig_method="hmac_sha256"),
                         {"errcode": 87009, "errmsg": "invalid signature"})
        self.assertEqual(self.errcode(self.check(token, openid, key, method="sha256")), 40097)
        self.assertEqual(self.errcode(self.wechat("GET", "/wxa/checksession", access_token=token,
                                                  signature=session_signature(key),
                                                  sig_method="hmac_sha256")), 40097)
        # a user who logged in but whose code was never exchanged has no key at WeChat
        fresh = self.sim.login("ck-nobody")
        self.assertEqual(self.errcode(self.check(token, fresh["openid"], key)), 87009)
        # the latest exchange's key is the current one
        _, newer = self.session_key_of("ck-alice")
        self.assertEqual(self.errcode(self.check(token, openid, key)), 87009)
        self.assertEqual(self.errcode(self.check(token, openid, newer)), 0)
        self.assertEqual(self.errcode(self.wechat("POST", "/wxa/checksession")), 43001)
        stats = self.sim.stats()
        self.assertEqual((stats["sessionChecks"], stats["apiCalls"]), (8, 8))

    def test_reset_session_key(self):
        token, _ = self.fetch()
        openid, key = self.session_key_of("rs-alice")
        self.assertEqual(self.errcode(self.check(token, openid, "wrong" + key,
                                                 path="/wxa/resetusersessionkey")), 87009)
        doc = self.check(token, openid, key, path="/wxa/resetusersessionkey")
        self.assertEqual((doc["errcode"], doc["errmsg"], doc["openid"]), (0, "ok", openid))
        new = doc["session_key"]
        self.assertNotEqual(new, key)
        self.assertEqual(len(base64.b64decode(new, validate=True)), 16)
        self.assertEqual(self.errcode(self.check(token, openid, key)), 87009)
        self.assertEqual(self.errcode(self.check(token, openid, new)), 0)
        stats = self.sim.stats()
        self.assertEqual((stats["sessionResets"], stats["sessionChecks"]), (2, 2))

    def test_rotate_session_key_behind_the_apps_back(self):
        token, _ = self.fetch()
        openid, key = self.session_key_of("rot-alice")
        status, doc = self.call("POST", "/__wxsim/rotate-session-key?user=rot-alice", b"")
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["openid"], openid)
        self.assertNotEqual(doc["sessionKey"], key)
        self.assertEqual(self.errcode(self.check(token, openid, key)), 87009)
        self.assertEqual(self.errcode(self.check(token, openid, doc["sessionKey"])), 0)
        status, _ = self.call("POST", "/__wxsim/rotate-session-key?user=rot-nobody", b"")
        self.assertEqual(status, 404)
        status, _ = self.call("POST", "/__wxsim/rotate-session-key", b"")
        self.assertEqual(status, 400)

    # ---- config and reset

    def test_config_bounds(self):
        for bad in ({"tokenLifetimeS": 1}, {"tokenRenewS": 0}, {"tokenLifetimeS": 100},
                    {"tokenLifetimeS": 4, "tokenRenewS": 4}, {"tokenQuotaPerMinute": 0},
                    {"phoneQuota": -2}, {"phonePerMinute": "5"}):
            with self.subTest(bad=bad):
                status, doc = self.config(**bad)
                self.assertEqual((status, doc["error"]["code"]), (400, "ERR_BAD_CONFIG"), doc)
        status, doc = self.config()
        self.assertEqual((doc["tokenLifetimeS"], doc["tokenRenewS"], doc["tokenQuotaPerMinute"],
                          doc["phoneQuota"], doc["phonePerMinute"]), (7200, 300, 10000, -1, 10000))

    def test_reset_forgets_tokens_and_counters(self):
        self.assertEqual(self.config(tokenLifetimeS=10, tokenRenewS=5)[0], 200)
        token, _ = self.fetch()
        code = self.phone_code("rz")["code"]
        self.phone(token, {"code": "nope"})
        self.sim.reset()
        self.assertEqual(self.token_state(token), 40001)
        token2, expires = self.fetch()
        self.assertEqual(expires, 7200)  # settings restored
        self.assertEqual(self.errcode(self.phone(token2, {"code": code})), 40029)
        stats = self.sim.stats()
        self.assertEqual((stats["tokenFetches"], stats["tokensIssued"], stats["apiCalls"],
                          stats["phoneCalls"], stats["phoneNumbers"]), (1, 1, 2, 1, 0))
        self.assertEqual(stats["apiErrors"], {"40001": 1, "40029": 1})


if __name__ == "__main__":
    unittest.main()
