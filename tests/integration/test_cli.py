"""test_cli.py: the wxsession command-line tool and wxsessiond's start-up checks."""
import json
import os
import subprocess
import tempfile
import unittest

import signal

from harness import WXSESSION_CLI, WXSESSIOND, Server, wait_until

OFFICIAL_RAW = ('{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou",'
                '"province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/'
                'vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyz'
                'YsrztuuICqIM5ibXQ/0"}')
OFFICIAL_KEY = "HyVFkGl5F5OQWJZZaNzBBg=="
OFFICIAL_SIG = "75e81ceda165f4ffa64f4068af58c64b8f54b88c"


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
        for cmd in ("sign", "verify", "decode", "check-config", "config-docs"):
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
