"""test_cli.py: the wxsession command-line tool and wxsessiond's start-up checks."""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import signal
import urllib.parse

from harness import (APP_ID, APP_SECRET, WXSESSION_CLI, WXSESSIOND, Server, Simulator,
                     free_port, wait_until)

OFFICIAL_RAW = ('{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou",'
                '"province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/'
                'vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyz'
                'YsrztuuICqIM5ibXQ/0"}')
OFFICIAL_KEY = "HyVFkGl5F5OQWJZZaNzBBg=="
OFFICIAL_SIG = "75e81ceda165f4ffa64f4068af58c64b8f54b88c"

# WeChat's official encryptedData vector (shared DESIGN.md section 5)
DEC_APP_ID = "wx4f4bc4dec97d474b"
DEC_KEY = "tiihtNczf5v6AKRyjwEUhQ=="
DEC_IV = "r7BXXKkLb8qrSNn05n0qiA=="
DEC_DATA = ("CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7f"
            "JlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8"
            "Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GR"
            "HpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UI"
            "eorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYT"
            "opNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T"
            "8yO5hzuyDb/XcxxmK01EpqOyuxINew==")
DEC_OPENID = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"


def run(*argv, env=None):
    full = dict(os.environ)
    full.update(env or {})
    p = subprocess.run(list(argv), capture_output=True, text=True, env=full, timeout=30)
    return p.returncode, p.stdout, p.stderr


class Cli(unittest.TestCase):
    def test_sign_official_vector(self):
        rc, out, _ = run(WXSESSION_CLI, "sign", "--raw-data", OFFICIAL_RAW, "--session-key",
                         OFFICIAL_KEY)
        self.assertEqual((rc, out.strip()), (0, OFFICIAL_SIG))

    def test_verify(self):
        rc, out, _ = run(WXSESSION_CLI, "verify", "--raw-data", OFFICIAL_RAW, "--session-key",
                         OFFICIAL_KEY, "--signature", OFFICIAL_SIG)
        self.assertEqual((rc, out.strip()), (0, "ok"))
        rc, out, _ = run(WXSESSION_CLI, "verify", "--raw-data", OFFICIAL_RAW + " ",
                         "--session-key", OFFICIAL_KEY, "--signature", OFFICIAL_SIG)
        self.assertEqual((rc, out.strip()), (1, "mismatch"))

    def test_decode(self):
        rc, out, _ = run(WXSESSION_CLI, "decode", "%E5%BE%AE%E4%BF%A1")
        self.assertEqual((rc, out.strip()), (0, "微信"))
        rc, _, err = run(WXSESSION_CLI, "decode", "100%")
        self.assertEqual(rc, 2)
        self.assertTrue(err.strip())

    def test_config_docs_are_current(self):
        """docs/config.md is what `wxsession config-docs` prints from the option table."""
        rc, out, err = run(WXSESSION_CLI, "config-docs")
        self.assertEqual(rc, 0, err)
        docs = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "config.md")
        with open(docs, encoding="utf-8") as f:
            self.assertEqual(f.read(), out,
                             "docs/config.md is stale: run `wxsession config-docs > docs/config.md`")

    def test_check_config_hides_secrets(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"appId": "wxabc", "appSecret": "topsecret-value",
                       "redis": {"port": 6400}}, f)
        try:
            rc, out, _ = run(WXSESSION_CLI, "check-config", "--config", f.name, "--redis-port",
                             "6401", env={"WXS_REDIS_HOST": "10.0.0.1"})
            self.assertEqual(rc, 0)
            self.assertIn("config ok", out)
            self.assertNotIn("topsecret-value", out)
            self.assertIn("6401", out, "flags beat the file")
            self.assertIn("10.0.0.1", out, "environment beats the file")
        finally:
            os.unlink(f.name)

    def test_bad_config_names_the_option(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"appId": "wxabc", "appSecret": "x", "redis": {"port": 70000}}, f)
        try:
            for prog in (WXSESSION_CLI, WXSESSIOND):
                argv = [prog, "check-config" if prog == WXSESSION_CLI else "--check-config",
                        "--config", f.name]
                rc, _, err = run(*argv)
                self.assertEqual(rc, 2, prog)
                self.assertIn("redis.port", err)
                self.assertIn("70000", err)
        finally:
            os.unlink(f.name)

    def test_server_refuses_missing_app_id(self):
        rc, _, err = run(WXSESSIOND, "--port", "0")
        self.assertEqual(rc, 2)
        self.assertIn("appId", err)

    def test_server_unknown_option(self):
        rc, _, err = run(WXSESSIOND, "--dev", "--no-such-option", "1")
        self.assertEqual(rc, 2)
        self.assertIn("no-such-option", err)

    def test_help_and_version(self):
        for prog in (WXSESSION_CLI, WXSESSIOND):
            rc, out, _ = run(prog, "--version")
            self.assertEqual(rc, 0)
            self.assertIn("0.1.0", out)
            self.assertRegex(out, r"\(commit ([0-9a-f]{12}(-dirty)?|unknown)\)")
        rc, out, _ = run(WXSESSIOND, "--help")
        self.assertEqual(rc, 0)
        self.assertIn("--redis-port", out)
        self.assertIn("WXS_APP_SECRET", out)


class CommandLineHelp(unittest.TestCase):
    """Each command has its --help; the top-level help is the list of commands."""

    def test_every_command_has_help(self):
        for cmd in ("sign", "verify", "decode", "decrypt", "token-info", "check-config",
                    "config-docs"):
            rc, out, err = run(WXSESSION_CLI, cmd, "--help")
            self.assertEqual(rc, 0, err)
            self.assertTrue(out.startswith(f"usage: wxsession {cmd}"), out)
        rc, out, _ = run(WXSESSION_CLI, "check-config", "--help")
        self.assertIn("--redis-port", out, "check-config --help lists the options")

    def test_top_level_help_is_short(self):
        rc, out, _ = run(WXSESSION_CLI, "--help")
        self.assertEqual(rc, 0)
        self.assertLess(len(out.splitlines()), 20, out)
        self.assertNotIn("--redis-port", out)
        self.assertIn("check-config", out)

    def test_verify_refuses_a_signature_that_is_not_hex(self):
        for sig in ("nothex", OFFICIAL_SIG.upper(), OFFICIAL_SIG[:39], OFFICIAL_SIG + "0"):
            rc, out, err = run(WXSESSION_CLI, "verify", "--raw-data", OFFICIAL_RAW,
                               "--session-key", OFFICIAL_KEY, "--signature", sig)
            self.assertEqual(rc, 2, sig)
            self.assertEqual(out, "", "a usage error, not a mismatch")
            self.assertIn("40 lowercase hex digits", err)


class Decrypt(unittest.TestCase):
    """`wxsession decrypt`: WeChat's encryptedData with a session key (exit 1: not decrypted)."""

    def decrypt(self, *extra, key=DEC_KEY, iv=DEC_IV, data=DEC_DATA):
        return run(WXSESSION_CLI, "decrypt", "--session-key", key, "--iv", iv, "--data", data,
                   *extra)

    def test_official_vector(self):
        rc, out, err = self.decrypt("--app-id", DEC_APP_ID)
        self.assertEqual(rc, 0, err)
        plain = json.loads(out)
        self.assertEqual(plain["openId"], DEC_OPENID)
        self.assertEqual(plain["watermark"]["appid"], DEC_APP_ID)
        self.assertTrue(out.endswith("}\n"))

    def test_files_with_trailing_newlines(self):
        with tempfile.TemporaryDirectory() as d:
            key_file, data_file = os.path.join(d, "key"), os.path.join(d, "data")
            with open(key_file, "w") as f:
                f.write(DEC_KEY + "\n")
            with open(data_file, "w") as f:
                f.write(DEC_DATA + "\r\n")
            rc, out, err = run(WXSESSION_CLI, "decrypt", "--session-key-file", key_file, "--iv",
                               DEC_IV, "--data-file", data_file, "--app-id", DEC_APP_ID)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["openId"], DEC_OPENID)

    def test_not_decrypted_exits_1(self):
        cases = {"another app": dict(extra=("--app-id", "wx0000000000000000")),
                 "wrong key": dict(key="AAAAAAAAAAAAAAAAAAAAAA=="),
                 "another iv": dict(iv="s7BXXKkLb8qrSNn05n0qiA==")}
        for why, case in cases.items():
            rc, out, err = self.decrypt(*case.get("extra", ()), key=case.get("key", DEC_KEY),
                                        iv=case.get("iv", DEC_IV))
            self.assertEqual((rc, out), (1, ""), why)
            self.assertTrue(err.strip(), why)
        _, _, err = self.decrypt("--app-id", "wx0000000000000000")
        self.assertIn("watermark", err)

    def test_bad_input_exits_2(self):
        cases = {"key without padding": dict(key=DEC_KEY.rstrip("=")),
                 "iv of 15 bytes": dict(iv="r7BXXKkLb8qrSNn05n0q"),
                 "data not base64": dict(data=DEC_DATA[:-4] + "!!=="),
                 "data not whole blocks": dict(data=DEC_DATA[:44]),
                 "data over 64 KiB": dict(data=base64.b64encode(bytes(65536 + 16)).decode())}
        for why, case in cases.items():
            rc, out, err = self.decrypt(**case)
            self.assertEqual((rc, out), (2, ""), why)
            self.assertTrue(err.strip(), why)

    def test_usage_errors(self):
        for argv in (["--iv", DEC_IV, "--data", DEC_DATA],
                     ["--session-key", DEC_KEY, "--data", DEC_DATA],
                     ["--session-key", DEC_KEY, "--iv", DEC_IV],
                     ["--session-key", DEC_KEY, "--iv", DEC_IV, "--data", DEC_DATA, "--data-file",
                      "/dev/null"],
                     ["--session-key", DEC_KEY, "--iv", DEC_IV, "--data", DEC_DATA, "--bogus"],
                     ["--session-key", DEC_KEY, "--iv", DEC_IV, "--data"]):
            rc, out, err = run(WXSESSION_CLI, "decrypt", *argv)
            self.assertEqual((rc, out), (2, ""), argv)
            self.assertTrue(err.strip(), argv)


class SimulatorData(unittest.TestCase):
    """The simulator's /__wxsim/login gives encryptedData that `wxsession decrypt` opens with the
    session_key jscode2session gives for the code; users asked for get a stable unionid."""

    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator()

    @classmethod
    def tearDownClass(cls):
        status = cls.sim.stop()
        log = cls.sim.output()
        cls.sim.cleanup()
        assert status == 0, f"the simulator exited with {status}:\n{log[-3000:]}"

    def exchange(self, code):
        q = urllib.parse.urlencode({"appid": APP_ID, "secret": APP_SECRET, "js_code": code,
                                    "grant_type": "authorization_code"})
        status, _, body = self.sim.request("GET", f"/sns/jscode2session?{q}")
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def decrypt(self, creds, key, app_id=APP_ID):
        return run(WXSESSION_CLI, "decrypt", "--session-key", key, "--iv", creds["iv"], "--data",
                   creds["encryptedData"], "--app-id", app_id)

    def test_encrypted_data_decrypts_with_the_codes_key(self):
        creds = self.sim.login("dec-alice", nickName="爱丽丝")
        reply = self.exchange(creds["code"])
        self.assertNotIn("unionid", reply)
        self.assertIsNone(creds["unionid"])
        rc, out, err = self.decrypt(creds, reply["session_key"])
        self.assertEqual(rc, 0, err)
        plain = json.loads(out)
        self.assertEqual(list(plain)[0], "openId")
        self.assertEqual(plain["openId"], creds["openid"])
        self.assertEqual(plain["nickName"], "爱丽丝")
        for name in ("gender", "language", "city", "province", "country", "avatarUrl"):
            self.assertEqual(plain[name], creds["userInfo"][name], name)
        self.assertNotIn("unionId", plain)
        self.assertEqual(plain["watermark"]["appid"], APP_ID)
        self.assertIsInstance(plain["watermark"]["timestamp"], int)
        # another app's watermark, another login's key: exit 1
        self.assertEqual(self.decrypt(creds, reply["session_key"], "wx0000000000000000")[0], 1)
        later = self.sim.login("dec-alice")
        self.assertEqual(self.decrypt(creds, self.exchange(later["code"])["session_key"])[0], 1)

    def test_unionid_is_given_and_stable(self):
        first = self.sim.login("dec-bob", unionid="1")
        reply = self.exchange(first["code"])
        unionid = reply["unionid"]
        self.assertRegex(unionid, r"^o[A-Za-z0-9_-]{27}$")
        self.assertNotEqual(unionid, reply["openid"])
        self.assertEqual(first["unionid"], unionid)
        plain = json.loads(self.decrypt(first, reply["session_key"])[1])
        self.assertEqual(plain["unionId"], unionid)
        self.assertEqual(list(plain)[-2:], ["unionId", "watermark"])
        # kept by later logins, derived from the name (the same after a reset), until unionid=0
        again = self.sim.login("dec-bob")
        self.assertEqual(self.exchange(again["code"])["unionid"], unionid)
        self.sim.reset()
        self.assertEqual(self.exchange(self.sim.login("dec-bob", unionid="1")["code"])["unionid"],
                         unionid)
        gone = self.sim.login("dec-bob", unionid="0")
        self.assertIsNone(gone["unionid"])
        self.assertNotIn("unionid", self.exchange(gone["code"]))
        other = self.sim.login("dec-carol", unionid="1")
        self.assertNotEqual(self.exchange(other["code"])["unionid"], unionid)

    def test_official_raw_data_and_key(self):
        raw = ('{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou",'
               '"province":"Guangdong","country":"CN","avatarUrl":"http://x/0"}')
        creds = self.sim.login("dec-band", sessionKey=DEC_KEY, rawData=raw)
        self.assertEqual(self.exchange(creds["code"])["session_key"], DEC_KEY)
        rc, out, err = self.decrypt(creds, DEC_KEY)
        self.assertEqual(rc, 0, err)
        plain = json.loads(out)
        self.assertEqual({k: v for k, v in plain.items() if k not in ("openId", "watermark")},
                         json.loads(raw))

    def test_bad_parameters(self):
        for q in ("unionid=2", "unionid=", "sessionKey=tiihtNczf5v6AKRyjwEUhR%3D%3D",
                  "sessionKey=AAAAAAAAAAAAAAAAAAAAAAAA"):
            status, _, body = self.sim.request("GET", f"/__wxsim/login?user=x&{q}")
            self.assertEqual(status, 400, q)



class WeChatApiCommands(unittest.TestCase):
    """`wxsession check-session-key` and `wxsession access-token` against the simulator as WeChat,
    with wxsessiond's options (a SQLite store of the class's own): ok / stale (exit 1), --reset
    and the old key stale after it, the access_token as JSON, usage errors (exit 2), WeChat
    refusing or unreachable (exit 1); a session key never in stderr."""

    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator()
        cls.tmp = tempfile.mkdtemp(prefix="wxs-cli-api-")
        cls.options = ["--app-id", APP_ID, "--app-secret", APP_SECRET, "--wechat-api-base",
                       cls.sim.base, "--sqlite-path", os.path.join(cls.tmp, "s.db")]

    @classmethod
    def tearDownClass(cls):
        status = cls.sim.stop()
        log = cls.sim.output()
        cls.sim.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert status == 0, f"the simulator exited with {status}:\n{log[-3000:]}"

    def current_key(self, user):
        """The user's openid and session_key, made WeChat's current key by an exchange."""
        creds = self.sim.login(user)
        q = urllib.parse.urlencode({"appid": APP_ID, "secret": APP_SECRET,
                                    "js_code": creds["code"], "grant_type": "authorization_code"})
        status, _, body = self.sim.request("GET", f"/sns/jscode2session?{q}")
        self.assertEqual(status, 200, body)
        reply = json.loads(body)
        return reply["openid"], reply["session_key"]

    def check(self, openid, key, *extra, options=None):
        rc, out, err = run(WXSESSION_CLI, "check-session-key", "--openid", openid,
                           "--session-key", key, *extra, *(self.options if options is None
                                                           else options))
        self.assertNotIn(key, err)
        return rc, out.strip(), err

    def test_check_session_key_ok_then_stale(self):
        openid, key = self.current_key("cli-key-ok")
        self.assertEqual(self.check(openid, key)[:2], (0, "ok"))
        # the key in a file, as the help suggests for keeping it off the command line
        path = os.path.join(self.tmp, "key")
        with open(path, "w") as f:
            f.write(key + "\n")
        rc, out, err = run(WXSESSION_CLI, "check-session-key", "--openid", openid,
                           "--session-key-file", path, *self.options)
        self.assertEqual((rc, out.strip()), (0, "ok"), err)
        self.assertNotIn(key, err)
        # another key of the same user, or a key of another user: stale
        self.assertEqual(self.check(openid, base64.b64encode(os.urandom(16)).decode())[:2],
                         (1, "stale"))
        other_openid, _ = self.current_key("cli-key-other")
        self.assertEqual(self.check(other_openid, key)[:2], (1, "stale"))
        # WeChat gives the user a new key behind the app's back: the app's is stale
        status, _, body = self.sim.request("POST", "/__wxsim/rotate-session-key?user=cli-key-ok",
                                           body=b"")
        self.assertEqual(status, 200, body)
        self.assertEqual(self.check(openid, key)[:2], (1, "stale"))
        rotated = json.loads(body)["sessionKey"]
        self.assertEqual(self.check(openid, rotated)[:2], (0, "ok"))

    def test_reset_prints_a_new_key_and_the_old_is_stale(self):
        openid, key = self.current_key("cli-key-reset")
        resets = self.sim.stats()["sessionResets"]
        rc, new_key, err = self.check(openid, key, "--reset")
        self.assertEqual(rc, 0, err)
        self.assertRegex(new_key, r"^[A-Za-z0-9+/]{22}==$")
        self.assertEqual(len(base64.b64decode(new_key)), 16)
        self.assertNotEqual(new_key, key)
        self.assertNotIn(new_key, err)
        self.assertEqual(self.sim.stats()["sessionResets"], resets + 1)
        self.assertEqual(self.check(openid, key)[:2], (1, "stale"))
        self.assertEqual(self.check(openid, new_key)[:2], (0, "ok"))
        # a reset signed with the stale key is refused: no key printed
        rc, out, _ = self.check(openid, key, "--reset")
        self.assertEqual(rc, 1)
        self.assertNotRegex(out, r"^[A-Za-z0-9+/]{22}==$")
        self.assertEqual(self.check(openid, new_key)[:2], (0, "ok"))

    def test_access_token_prints_json(self):
        before = self.sim.stats()["tokenFetches"]
        rc, out, err = run(WXSESSION_CLI, "access-token", *self.options)
        self.assertEqual(rc, 0, err)
        answer = json.loads(out)
        self.assertEqual(set(answer), {"accessToken", "expiresAt"})
        self.assertRegex(answer["accessToken"], r"^[0-9A-Za-z]{136}$")
        self.assertIsInstance(answer["expiresAt"], int)
        self.assertGreater(answer["expiresAt"], time.time())
        self.assertNotIn(answer["accessToken"], err)
        # the second run finds it in the store: the same token, no fetch
        rc, out, err = run(WXSESSION_CLI, "access-token", *self.options)
        self.assertEqual((rc, json.loads(out)["accessToken"]), (0, answer["accessToken"]), err)
        self.assertLessEqual(self.sim.stats()["tokenFetches"] - before, 1)

    def test_usage_errors_exit_2(self):
        openid, key = self.current_key("cli-key-usage")
        path = os.path.join(self.tmp, "no-such-key-file")
        for argv in (["check-session-key", "--session-key", key],
                     ["check-session-key", "--openid", "", "--session-key", key],
                     ["check-session-key", "--openid", openid],
                     ["check-session-key", "--openid", openid, "--session-key", key,
                      "--session-key-file", path],
                     ["check-session-key", "--openid", openid, "--session-key-file", path],
                     ["check-session-key", "--openid", openid, "--session-key", key,
                      "--no-such-option"],
                     ["check-session-key", "--openid", openid, "--session-key", key,
                      "--store=nowhere"],
                     ["access-token", "--no-such-option"],
                     ["access-token", "--store=nowhere"]):
            rc, out, err = run(WXSESSION_CLI, *argv, *self.options)
            self.assertEqual((rc, out), (2, ""), argv)
            self.assertTrue(err.strip(), argv)
            self.assertNotIn(key, err)
            self.assertNotIn(APP_SECRET, err)

    def test_wechat_refused_or_unreachable_exit_1(self):
        openid, key = self.current_key("cli-key-refused")
        wrong = "wr0ng-app-secret-0123456789abcdef"
        fresh = ["--sqlite-path", os.path.join(self.tmp, "fresh.db")]  # no stored access_token
        for options, says in (
                ([*self.options, "--app-secret", wrong, *fresh], "40125"),
                ([*self.options, "--wechat-api-base", f"http://127.0.0.1:{free_port()}", *fresh],
                 "wxsession: ")):
            rc, out, err = self.check(openid, key, options=options)
            self.assertEqual((rc, out), (1, ""), err)
            self.assertIn(says, err)
            for secret in (wrong, APP_SECRET):
                self.assertNotIn(secret, err)
            rc, out, err = run(WXSESSION_CLI, "access-token", *options)
            self.assertEqual((rc, out), (1, ""), err)
            self.assertNotIn(wrong, err)
        self.assertEqual(self.check(openid, key)[:2], (0, "ok"))

class TokenInfo(unittest.TestCase):
    """`wxsession token-info`: a token's hash and store key, never the token."""

    TOKEN = "-Zk3q9vA0bX7yJt2LmN5pQrS8uVwXyZ_aBcDeFgHiJk"  # 43 base64url chars, a leading '-'

    def expect(self, out, prefix="weapp-session:"):
        digest = hashlib.sha256(self.TOKEN.encode()).hexdigest()
        self.assertEqual(out, f"sha256: {digest}\nkey: {prefix}token:{digest}\n")
        self.assertNotIn(self.TOKEN, out)

    def test_hash_and_key(self):
        rc, out, err = run(WXSESSION_CLI, "token-info", self.TOKEN)
        self.assertEqual((rc, err), (0, ""))
        self.expect(out)

    def test_prefix_and_standard_input(self):
        p = subprocess.run([WXSESSION_CLI, "token-info", "-", "--prefix", "app1:"],
                           input=self.TOKEN + "\n", capture_output=True, text=True, timeout=30)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        self.expect(p.stdout, prefix="app1:")

    def test_not_a_token_is_hashed_with_a_warning(self):
        rc, out, err = run(WXSESSION_CLI, "token-info", "Bearer-abc")
        self.assertEqual(rc, 0)
        digest = hashlib.sha256(b"Bearer-abc").hexdigest()
        self.assertIn(digest, out)
        self.assertIn("warning", err)
        self.assertNotIn("Bearer-abc", out + err)

    def test_usage_errors(self):
        for argv in ([], ["--prefix", "x:"], [self.TOKEN, "--prefix"], [self.TOKEN, "again"],
                     [self.TOKEN, "--prefix", "has space"], [self.TOKEN, "--prefix", "p" * 65]):
            rc, out, err = run(WXSESSION_CLI, "token-info", *argv)
            self.assertEqual((rc, out), (2, ""), argv)
            self.assertNotIn(self.TOKEN, err, argv)


class StartupMessages(unittest.TestCase):
    """What the server says about its command line and environment."""

    def test_unknown_flag_is_named_as_such(self):
        rc, _, err = run(WXSESSIOND, "--dev", "--frobnicate")
        self.assertEqual(rc, 2)
        self.assertIn("unknown option '--frobnicate'", err)
        self.assertNotIn("needs a value", err)

    def test_unknown_flag_suggests_the_nearest(self):
        for prog in ([WXSESSIOND, "--dev"], [WXSESSION_CLI, "check-config", "--dev"]):
            rc, _, err = run(*prog, "--wokers", "2")
            self.assertEqual(rc, 2, prog)
            self.assertIn("did you mean '--workers'", err)

    def test_unknown_environment_variable_is_reported(self):
        server = Server(env={"WXS_PROT": "1"}, args=("--dev",))
        try:
            out = server.output()
            self.assertIn("ignoring unknown environment variables: ", out)
            self.assertIn("WXS_PROT (did you mean WXS_PORT?)", out)
            self.assertIn(" warn ", out[:out.index("WXS_PROT")].splitlines()[-1])
        finally:
            server.stop()
            server.cleanup()

    def test_json_log_format_covers_every_line(self):
        server = Server(args=("--dev", "--log-format=json"))
        try:
            self.assertEqual(server.stop(), 0)
            lines = [line for line in server.output().splitlines() if line.strip()]
            self.assertTrue(any("listening on 127.0.0.1:" in line for line in lines), lines)
            for line in lines:
                entry = json.loads(line)  # every line, start-up and stop included
                self.assertEqual(set(entry), {"time", "level", "msg"}, line)
        finally:
            server.cleanup()


class Reload(unittest.TestCase):
    """SIGHUP reads the configuration again and applies the log settings; it never stops the
    server."""

    def test_sighup_applies_the_log_level_and_keeps_serving(self):
        server = Server(args=("--dev",))
        try:
            with open(server.config_path) as f:
                cfg = json.load(f)
            cfg["log"] = {"level": "debug", "format": "json"}
            with open(server.config_path, "w") as f:
                json.dump(cfg, f)
            server.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: "log.level debug" in server.output(), "the reload's log line")
            self.assertEqual(server.request("GET", "/healthz")[0], 200)
            self.assertIsNone(server.proc.poll(), "still running")
            last = server.output().splitlines()[-1]
            self.assertEqual(json.loads(last)["level"], "info", "the new format is in use")
        finally:
            server.stop()
            server.cleanup()

    def test_sighup_with_a_broken_config_changes_nothing(self):
        server = Server(args=("--dev",))
        try:
            with open(server.config_path, "w") as f:
                f.write("{not json")
            server.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: "does not read" in server.output(), "the reload's error line")
            self.assertEqual(server.request("GET", "/healthz")[0], 200)
            self.assertIsNone(server.proc.poll(), "still running")
            self.assertEqual(server.stop(), 0, "a clean stop after it")
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
