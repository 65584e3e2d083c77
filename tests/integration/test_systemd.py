"""test_systemd.py: the systemd unit (deploy/systemd/wxsessiond.service) and the sd_notify
messages wxsessiond sends to a Type=notify service manager.

The unit is checked by Debian's `systemd-analyze verify` with ExecStart pointing at the built
wxsessiond and its Documentation= (wxsessiond(8)) found among the man pages the build writes;
the notifications by running the server with NOTIFY_SOCKET naming a datagram
socket the test reads, as systemd does. Waits are hang guards, never timing assertions.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest
import uuid

import harness

UNIT = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "systemd",
                    "wxsessiond.service")
HANG_GUARD = 30.0 * harness.SLOWDOWN  # seconds a message may take before the test fails


class UnitFile(unittest.TestCase):
    def test_unit_verifies(self):
        analyze = harness.require_program(self, "systemd-analyze", "systemd")
        with open(UNIT) as f:
            text = f.read()
        self.assertIn("ExecStart=/usr/sbin/wxsessiond ", text)
        tmp = tempfile.mkdtemp(prefix="wxs-unit-")
        try:
            path = os.path.join(tmp, "wxsessiond.service")
            with open(path, "w") as f:
                f.write(text.replace("/usr/sbin/wxsessiond", os.path.abspath(harness.WXSESSIOND)))
            # Documentation=man:wxsessiond(8): the page the build writes, in a man tree of its
            # own (MANPATH), as the package installs it
            page = os.path.join(harness.BUILD_DIR, "doc", "wxsessiond.8")
            env = dict(os.environ)
            man = ["--man=no"]
            if os.path.exists(page) and shutil.which("man"):
                os.makedirs(os.path.join(tmp, "man", "man8"))
                shutil.copy(page, os.path.join(tmp, "man", "man8"))
                env["MANPATH"] = os.path.join(tmp, "man")
                man = []
            else:
                print("systemd-analyze verify --man=no: no man (man-db) or no "
                      f"{page} to check Documentation= with")
            out = subprocess.run([analyze, "verify"] + man + [path], capture_output=True,
                                 text=True, timeout=120, env=env)
            lines = [line for line in (out.stdout + out.stderr).splitlines()
                     if "wxsessiond" in line]
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertEqual(lines, [], out.stdout + out.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_unit_settings(self):
        """What the deployment relies on is in the unit (systemd-analyze ignores a missing key)."""
        with open(UNIT) as f:
            keys = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        for want in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "User=wxsession",
                     "Group=wxsession", "StateDirectory=wxsession",
                     "WorkingDirectory=/var/lib/wxsession",
                     "LoadCredential=app_secret:/etc/wxsession/app_secret",
                     "Environment=WXS_APP_SECRET_FILE=%d/app_secret", "ProtectSystem=strict",
                     "NoNewPrivileges=yes", "CapabilityBoundingSet=", "Restart=on-failure",
                     # not started before the operator sets the secret (and appId): skipped
                     # without the secret file; an invalid config (exit 2) is not restarted
                     "ConditionPathExists=/etc/wxsession/app_secret",
                     "RestartPreventExitStatus=2"):
            self.assertIn(want, keys)
        # the package's system user (deploy/systemd/wxsession.sysusers), not a dynamic one
        self.assertNotIn("DynamicUser=yes", keys)


class Notify(unittest.TestCase):
    """wxsessiond tells NOTIFY_SOCKET: READY=1 once it listens, RELOADING=1 then READY=1
    around a SIGHUP, STOPPING=1 on SIGTERM."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="wxs-notify-")
        self.server = None

    def tearDown(self):
        if self.server is not None:
            self.server.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def bind(self, name):
        """A datagram socket bound to name (a path, or "\\0..." abstract), like systemd's."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(name)
        sock.settimeout(HANG_GUARD)
        return sock

    def receive(self, sock, what):
        """The next message, as a dict of its assignments."""
        try:
            data = sock.recv(4096)
        except socket.timeout:
            out = self.server.output() if self.server else ""
            raise AssertionError(f"{what}: no notification within the hang guard\n{out[-2000:]}")
        pairs = [line.split("=", 1) for line in data.decode().split("\n") if line]
        return {k: v for k, v in pairs}

    def accepts(self, port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                return True
        except OSError:
            return False

    def run_server(self, sock, notify_socket):
        self.server = harness.Server(env={"NOTIFY_SOCKET": notify_socket}, wait=False)
        ready = self.receive(sock, "READY=1 at start")
        # the first message is READY=1, and the port already takes connections when it comes
        self.assertEqual(ready.get("READY"), "1", ready)
        self.assertTrue(self.accepts(self.server.port), "READY=1 before the port listens")
        self.assertIn("STATUS", ready)
        harness.wait_until(lambda: self.server.request("GET", "/livez")[0] == 200, "/livez")

        self.server.proc.send_signal(signal.SIGHUP)
        reloading = self.receive(sock, "RELOADING=1 after SIGHUP")
        self.assertEqual(reloading.get("RELOADING"), "1", reloading)
        ready = self.receive(sock, "READY=1 after the reload")
        self.assertEqual(ready.get("READY"), "1", ready)
        self.assertEqual(self.server.request("GET", "/livez")[0], 200)

        self.server.proc.send_signal(signal.SIGTERM)
        stopping = self.receive(sock, "STOPPING=1 after SIGTERM")
        self.assertEqual(stopping.get("STOPPING"), "1", stopping)
        # the one SIGTERM stops it (a second would find the default action: stop() is not used)
        self.assertEqual(self.server.proc.wait(HANG_GUARD), 0, self.server.output()[-2000:])

    def test_path_socket(self):
        path = os.path.join(self.tmp, "notify")
        sock = self.bind(path)
        self.run_server(sock, path)

    def test_abstract_socket(self):
        name = f"wxs-notify-test-{uuid.uuid4().hex}"
        sock = self.bind("\0" + name)
        self.run_server(sock, "@" + name)

    def test_unusable_socket_does_not_stop_the_server(self):
        """A NOTIFY_SOCKET nobody reads: the server serves and stops as usual."""
        self.server = harness.Server(env={"NOTIFY_SOCKET": os.path.join(self.tmp, "nobody")})
        self.assertEqual(self.server.request("GET", "/livez")[0], 200)
        self.assertEqual(self.server.stop(), 0, self.server.output()[-2000:])
        self.assertEqual(self.server.output().count("NOTIFY_SOCKET"), 1, self.server.output())


if __name__ == "__main__":
    unittest.main()
