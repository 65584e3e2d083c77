"""test_package.py: the Debian packages (debian/), built from the tree as README says.

Builds wxsession, libwxsession0 and libwxsession-dev with `dpkg-buildpackage -us -uc -b` in a
copy of the tree in a temporary directory (never beside the checkout), then checks them:
their file lists (`dpkg-deb -c`), lintian (no error or warning; the info tags left are
overridden in debian/*.lintian-overrides with their reasons), and the shipped programs unpacked
into a scratch root (`dpkg-deb -x`): `wxsessiond --check-config` with the shipped sample
config, then the shipped wxsessiond with that config on a free loopback port serving one login
against the WeChat simulator.

The real installation (dpkg -i, the system user, the unit enabled and not running, the
conffile, then dpkg --purge) runs only when WXS_TEST_SYSTEM_INSTALL=1 (.ci/run sets it on its
scratch machine): the test never installs a package on a developer's machine unasked.

The build takes minutes on 2 cores, so it runs once per test command: in the sanitizer build
directory (WXS_SANITIZE) the test skips, saying so.
"""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import harness

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SYSTEM_INSTALL = os.environ.get("WXS_TEST_SYSTEM_INSTALL") == "1"
BUILD_GUARD = 1800  # seconds the package build may take before the test fails (a hang guard)
TOOLS = ("dpkg-buildpackage", "dh", "dpkg-deb", "lintian", "dpkg-architecture")


def multiarch():
    out = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def expected_files(triplet):
    """What each package holds, besides its directories: regular files and symlinks."""
    lib = f"usr/lib/{triplet}"
    return {
        "wxsession": sorted([
            "etc/wxsession/wxsession.json",
            "lib/systemd/system/wxsessiond.service",
            "usr/bin/wxsession",
            "usr/lib/sysusers.d/wxsession.conf",
            "usr/sbin/wxsessiond",
            "usr/share/doc/wxsession/changelog.gz",
            "usr/share/doc/wxsession/copyright",
            "usr/share/lintian/overrides/wxsession",
            "usr/share/man/man1/wxsession.1.gz",
            "usr/share/man/man8/wxsessiond.8.gz",
        ]),
        "libwxsession0": sorted([
            f"{lib}/libwxsession.so.0",
            f"{lib}/libwxsession.so.0.1.0",
            "usr/share/doc/libwxsession0/changelog.gz",
            "usr/share/doc/libwxsession0/copyright",
            "usr/share/lintian/overrides/libwxsession0",
        ]),
        "libwxsession-dev": sorted([
            "usr/include/wxsession.h",
            f"{lib}/libwxsession.a",
            f"{lib}/libwxsession.so",
            f"{lib}/pkgconfig/wxsession.pc",
            "usr/share/doc/libwxsession-dev/changelog.gz",
            "usr/share/doc/libwxsession-dev/copyright",
        ]),
    }


def deb_contents(deb):
    """dpkg-deb -c: {path: (mode string, owner, link target or None)} of files and symlinks."""
    out = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True)
    entries = {}
    for line in out.stdout.splitlines():
        fields = line.split(None, 5)
        mode, owner, name = fields[0], fields[1], fields[5]
        if mode.startswith("d"):
            continue
        target = None
        if " -> " in name:
            name, target = name.split(" -> ", 1)
        entries[name[2:] if name.startswith("./") else name] = (mode, owner, target)
    return entries


def sanitized_build():
    """1 when WXS_BUILD_DIR is a WXS_SANITIZE build (its CMakeCache.txt says so)."""
    try:
        with open(os.path.join(harness.BUILD_DIR, "CMakeCache.txt")) as f:
            return any(line.strip() == "WXS_SANITIZE:BOOL=ON" for line in f)
    except OSError:
        return False


def source_files():
    """The tree's files as git sees them (tracked and new, without what .gitignore ignores:
    build directories, node_modules); None outside a git checkout."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=SOURCE, capture_output=True)
    if out.returncode != 0:
        return None
    return [p for p in out.stdout.decode().split("\0") if p]


def copy_tree(dest):
    files = source_files()
    if files is None:
        ignore = shutil.ignore_patterns("build*", "node_modules", ".git", "__pycache__")
        shutil.copytree(SOURCE, dest, symlinks=True, ignore=ignore)
        return
    for rel in files:
        src = os.path.join(SOURCE, rel)
        if not os.path.lexists(src):  # deleted in the working tree, not yet in git
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, rel), follow_symlinks=False)


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if sanitized_build():
            print("skipped the package tests: a sanitizer build (WXS_SANITIZE); the package is "
                  "built and checked once, from the normal build's test run")
            raise unittest.SkipTest("sanitizer build")
        missing = [t for t in TOOLS if shutil.which(t) is None]
        if missing:
            print(f"skipped the package tests: {', '.join(missing)} not installed (Debian's "
                  "dpkg-dev, debhelper and lintian; scripts/deps.sh --test installs them)")
            raise unittest.SkipTest("packaging tools missing")
        cls.tmp = tempfile.mkdtemp(prefix="wxs-package-")
        try:
            cls.build()
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def build(cls):
        src = os.path.join(cls.tmp, "wxsession")
        copy_tree(src)
        env = dict(os.environ)
        env["DEB_BUILD_OPTIONS"] = "noddebs parallel=2"
        log_path = os.path.join(cls.tmp, "build.log")
        with open(log_path, "wb") as log:
            rc = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env,
                                stdout=log, stderr=subprocess.STDOUT,
                                timeout=BUILD_GUARD).returncode
        with open(log_path, "rb") as f:
            cls.build_log = f.read().decode("utf-8", "replace")
        if rc != 0:
            raise AssertionError(f"dpkg-buildpackage exited {rc}:\n{cls.build_log[-4000:]}")
        cls.debs = {os.path.basename(p).split("_")[0]: p
                    for p in glob.glob(os.path.join(cls.tmp, "*.deb"))}
        cls.changes = glob.glob(os.path.join(cls.tmp, "*.changes"))[0]
        cls.root = os.path.join(cls.tmp, "root")
        subprocess.run(["dpkg-deb", "-x", cls.debs["wxsession"], cls.root], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- the packages as built

    def test_packages_and_their_files(self):
        expected = expected_files(multiarch())
        self.assertEqual(sorted(self.debs), sorted(expected))
        for name, files in expected.items():
            with self.subTest(package=name):
                entries = deb_contents(self.debs[name])
                self.assertEqual(sorted(entries), files)
                for path, (mode, owner, _) in entries.items():
                    self.assertEqual(owner, "root/root", path)
        wx = deb_contents(self.debs["wxsession"])
        self.assertEqual(wx["usr/sbin/wxsessiond"][0], "-rwxr-xr-x")
        self.assertEqual(wx["usr/bin/wxsession"][0], "-rwxr-xr-x")
        self.assertEqual(wx["etc/wxsession/wxsession.json"][0], "-rw-r--r--")
        dev = deb_contents(self.debs["libwxsession-dev"])
        self.assertEqual(dev[f"usr/lib/{multiarch()}/libwxsession.so"][2], "libwxsession.so.0")

    def test_control(self):
        """The conffile, the user made by systemd-sysusers before the unit is enabled."""
        out = subprocess.run(["dpkg-deb", "-e", self.debs["wxsession"],
                              os.path.join(self.tmp, "control")], check=True)
        self.assertEqual(out.returncode, 0)
        with open(os.path.join(self.tmp, "control", "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/wxsession/wxsession.json"])
        with open(os.path.join(self.tmp, "control", "postinst")) as f:
            postinst = f.read()
        sysusers = postinst.find("systemd-sysusers")
        enable = postinst.find("deb-systemd-helper enable 'wxsessiond.service'")
        self.assertTrue(0 <= sysusers < enable, postinst)
        with open(os.path.join(self.tmp, "control", "control")) as f:
            control = f.read()
        self.assertIn("systemd | systemd-standalone-sysusers", control)

    def test_lintian(self):
        out = subprocess.run(["lintian", "--fail-on", "error,warning", "--display-info",
                              self.changes], capture_output=True, text=True, timeout=600)
        print(f"lintian {os.path.basename(self.changes)} (exit {out.returncode}):\n"
              + (out.stdout or "(no tags)\n"))
        tags = [line for line in out.stdout.splitlines() if line[:2] in ("E:", "W:")]
        self.assertEqual(tags, [], out.stdout + out.stderr)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_man_pages_render_without_warnings(self):
        if shutil.which("man") is None:
            print("skipped the man page check: man not installed (man-db)")
            self.skipTest("man-db not installed")
        for page in ("usr/share/man/man1/wxsession.1.gz", "usr/share/man/man8/wxsessiond.8.gz"):
            out = subprocess.run(["man", "--warnings", "-l", os.path.join(self.root, page)],
                                 capture_output=True, text=True, env=dict(os.environ,
                                                                         MANWIDTH="80"))
            self.assertEqual((out.returncode, out.stderr), (0, ""), page)
            self.assertIn("CONFIG FILE KEY", out.stdout.upper())

    # ---- the shipped programs with the shipped sample config

    def shipped(self, *path):
        return os.path.join(self.root, *path)

    def secret_env(self):
        path = os.path.join(self.tmp, "app_secret")
        with open(path, "w") as f:
            f.write(harness.APP_SECRET + "\n")
        env = dict(os.environ)
        env.update(WXS_APP_ID=harness.APP_ID, WXS_APP_SECRET_FILE=path)
        return env

    def test_check_config_with_the_shipped_sample(self):
        sample = self.shipped("etc", "wxsession", "wxsession.json")
        argv = [self.shipped("usr", "sbin", "wxsessiond"), "--check-config", "--config", sample]
        # as installed: appId empty, no secret: refused, naming the option
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items()
                                  if not k.startswith("WXS_")})
        self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
        self.assertIn("appId", out.stderr)
        # with appId and the secret file the unit would give it
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                             env=self.secret_env())
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertTrue(out.stdout.endswith("config ok\n"), out.stdout)
        effective = json.loads(out.stdout[:-len("config ok\n")])
        self.assertEqual(effective["appId"], harness.APP_ID)
        self.assertEqual(effective["appSecret"], "***")
        self.assertEqual(effective["sqlite"]["path"], "wxsession.db")
        # the CLI's check-config agrees
        cli = [self.shipped("usr", "bin", "wxsession"), "check-config", "--config", sample]
        out = subprocess.run(cli, capture_output=True, text=True, timeout=60,
                             env=self.secret_env())
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_shipped_server_serves_a_login(self):
        sim = harness.Simulator()
        work = tempfile.mkdtemp(prefix="wxs-package-run-", dir=self.tmp)
        port = harness.free_port()
        argv = [self.shipped("usr", "sbin", "wxsessiond"), "--config",
                self.shipped("etc", "wxsession", "wxsession.json"), "--port", str(port),
                "--workers", "1", "--wechat-api-base", sim.base]
        server = harness.Process(argv, "shipped-wxsessiond", env=self.secret_env(), cwd=work)
        try:
            harness.wait_port(port, server.proc, "the shipped wxsessiond")
            harness.wait_until(lambda: harness.request(port, "GET", "/healthz")[0] == 200,
                               "the shipped wxsessiond healthy")
            creds = sim.login("package-alice")
            status, _, body = harness.request(port, "GET", "/applet/session",
                                              harness.login_headers(creds))
            self.assertEqual(status, 200, body)
            user = json.loads(body)["wxUserInfo"]
            self.assertEqual(user["openId"], creds["openid"])
            # the session is in SQLite, in the service's directory (sqlite.path "wxsession.db")
            self.assertTrue(os.path.exists(os.path.join(work, "wxsession.db")))
            self.assertEqual(server.stop(), 0, server.output()[-3000:])
        finally:
            server.cleanup()
            sim.cleanup()

    # ---- the real installation, only when asked

    def test_system_install_and_purge(self):
        if not SYSTEM_INSTALL:
            print("skipped the system install: set WXS_TEST_SYSTEM_INSTALL=1 to run dpkg -i and "
                  "dpkg --purge of the wxsession package on this machine (.ci/run does, on its "
                  "scratch machine); it adds the system user wxsession, which stays after purge")
            self.skipTest("WXS_TEST_SYSTEM_INSTALL is not 1")
        if os.geteuid() != 0:
            print("skipped the system install: it needs root (dpkg -i)")
            self.skipTest("not root")
        state = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", "wxsession"],
                               capture_output=True, text=True).stdout
        if "installed" in state.split():
            print("skipped the system install: a wxsession package is installed already; "
                  "the test leaves it alone")
            self.skipTest("wxsession already installed")
        installed = False
        try:
            out = subprocess.run(["dpkg", "-i", self.debs["wxsession"]], capture_output=True,
                                 text=True, timeout=300)
            installed = True
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.check_installed()
        finally:
            if installed:
                self.purge_and_check()

    def check_installed(self):
        user = subprocess.run(["getent", "passwd", "wxsession"], capture_output=True,
                              text=True).stdout.strip().split(":")
        self.assertEqual(user[0], "wxsession", "the system user")
        self.assertLess(int(user[2]), 1000, "a system uid")
        self.assertEqual(user[5], "/var/lib/wxsession")
        self.assertIn(user[6], ("/usr/sbin/nologin", "/sbin/nologin"))
        link = "/etc/systemd/system/multi-user.target.wants/wxsessiond.service"
        self.assertEqual(os.readlink(link), "/lib/systemd/system/wxsessiond.service",
                         "the unit is enabled")
        if os.path.isdir("/run/systemd/system"):
            active = subprocess.run(["systemctl", "is-active", "wxsessiond"],
                                    capture_output=True, text=True).stdout.strip()
            self.assertNotEqual(active, "active", "started before the AppSecret was set")
        else:
            print("no systemd running here: the unit cannot be active")
        conffiles = subprocess.run(["dpkg-query", "-W", "-f", "${Conffiles}", "wxsession"],
                                   capture_output=True, text=True).stdout
        self.assertIn("/etc/wxsession/wxsession.json", conffiles)
        # the installed unit verifies, its man page found now
        if shutil.which("systemd-analyze"):
            out = subprocess.run(["systemd-analyze", "verify",
                                  "/lib/systemd/system/wxsessiond.service"],
                                 capture_output=True, text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertEqual([line for line in (out.stdout + out.stderr).splitlines()
                              if "wxsessiond" in line], [], out.stdout + out.stderr)
        out = subprocess.run(["/usr/sbin/wxsessiond", "--check-config", "--config",
                              "/etc/wxsession/wxsession.json"], capture_output=True, text=True,
                             env=self.secret_env(), timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        # what the service will have written by the time it is purged
        os.makedirs("/var/lib/wxsession", exist_ok=True)
        with open("/var/lib/wxsession/wxsession.db", "w") as f:
            f.write("state")

    def purge_and_check(self):
        out = subprocess.run(["dpkg", "--purge", "wxsession"], capture_output=True, text=True,
                             timeout=300)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        left = [p for p in deb_contents(self.debs["wxsession"]) if os.path.lexists("/" + p)]
        self.assertEqual(left, [], "files of the package left after purge")
        for path in ("/etc/wxsession", "/var/lib/wxsession",
                     "/etc/systemd/system/multi-user.target.wants/wxsessiond.service"):
            self.assertFalse(os.path.lexists(path), f"{path} left after purge")
        # Debian leaves system users in place (files they owned may remain elsewhere)
        self.assertEqual(subprocess.run(["getent", "passwd", "wxsession"],
                                        capture_output=True).returncode, 0)
        print("system install: dpkg -i, user, enabled unit, conffile, purge: as expected "
              "(the user wxsession stays, as Debian leaves system users)")


if __name__ == "__main__":
    unittest.main()
