"""test_backup.py: the SQLite backup docs/operations.md gives, done while wxsessiond serves.

sqlite3's `.backup` (Debian's sqlite3 package) copies the live database while logins keep
writing to it; a server started on the copy alone then serves every session acknowledged before
the backup began. Waits are hang guards; nothing asserts a duration.
"""
import os
import subprocess
import tempfile
import threading
import unittest

from harness import Server, Simulator, login_headers, require_program, stop_class_servers


class Backup(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="wxs-backup-")
        cls.sim = Simulator()
        cls.db = os.path.join(cls.tmp, "live.db")
        cls.server = Server({"sqlite": {"path": cls.db}, "wechat": {"apiBase": cls.sim.base}})

    @classmethod
    def tearDownClass(cls):
        stop_class_servers(cls.server, cls.sim, cls.tmp)

    def login(self, user):
        creds = self.sim.login(user)
        status, _, body = self.server.request("GET", "/applet/session", login_headers(creds))
        self.assertEqual(status, 200, body)
        return creds

    def test_online_backup_restores_the_sessions(self):
        sqlite3 = require_program(self, "sqlite3", "sqlite3")
        before = [self.login(f"backup-{i}") for i in range(20)]
        # logins keep writing during the backup
        stop = threading.Event()
        during = []

        def keep_logging_in():
            n = 0
            while not stop.is_set():
                during.append(self.login(f"during-{n}"))
                n += 1

        writer = threading.Thread(target=keep_logging_in)
        writer.start()
        copy = os.path.join(self.tmp, "backup.db")
        try:
            out = subprocess.run([sqlite3, self.db, f".backup {copy}"], capture_output=True,
                                 text=True, timeout=60)
        finally:
            stop.set()
            writer.join()
        self.assertEqual(out.returncode, 0, out.stderr)
        check = subprocess.run([sqlite3, copy, "PRAGMA integrity_check;"], capture_output=True,
                               text=True, timeout=60)
        self.assertEqual(check.stdout.strip(), "ok", check.stdout + check.stderr)
        restored = Server({"sqlite": {"path": copy}, "wechat": {"apiBase": self.sim.base}},
                          name="restored")
        try:
            for creds in before:
                status, _, body = restored.request("GET", "/applet/session",
                                                   {"X-WX-Code": creds["code"]})
                self.assertEqual(status, 200, body)
                self.assertIn(creds["openid"].encode(), body)
        finally:
            self.assertEqual(restored.stop(), 0)
            restored.cleanup()
        print(f"backup taken during {len(during)} logins; the {len(before)} sessions acknowledged "
              "before it were all served from the copy")


if __name__ == "__main__":
    unittest.main()
