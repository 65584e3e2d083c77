"""test_nginx.py: deploy/nginx/wxsession.conf with Debian's real nginx in front of a real
wxsessiond, over HTTPS with a self-signed certificate made by openssl in the test.

The shipped file is rendered for loopback (free ports, the test's wxsessiond as the upstream,
the test certificate) and wrapped in a minimal nginx.conf in a temporary directory; nginx runs in
the foreground and is stopped by its PID. Skipped, with the reason, without nginx or openssl.
"""
import grp
import http.client
import json
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import unittest

from harness import Process, Server, free_port, login_headers, wait_port, wait_until

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SHIPPED = os.path.join(REPO, "deploy", "nginx", "wxsession.conf")
CERT_PLACEHOLDER = "/etc/ssl/wxsession/fullchain.pem"
KEY_PLACEHOLDER = "/etc/ssl/wxsession/privkey.pem"


def find_program(name):
    """The program's path (also in /usr/sbin, which a user's PATH may lack), or None."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


NGINX = find_program("nginx")
OPENSSL = find_program("openssl")
MISSING = [n for n, p in (("nginx", NGINX), ("openssl", OPENSSL)) if not p]
if MISSING:
    print(f"test_nginx: skipped: {' and '.join(MISSING)} not installed "
          "(scripts/deps.sh --test installs them)")


def make_certificate(directory):
    """A self-signed certificate for localhost and 127.0.0.1 (also the test's CA)."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def replace_once(text, old, new):
    """text with old replaced by new, which must occur exactly once (the shipped file's shape)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {SHIPPED}"
    return text.replace(old, new)


def main_conf(directory, site_path):
    """A minimal nginx.conf around site_path: everything nginx writes stays in directory."""
    user = ""
    if os.geteuid() == 0:  # workers run as the current user, not as nobody
        user = (f"user {pwd.getpwuid(os.geteuid()).pw_name} "
                f"{grp.getgrgid(os.getegid()).gr_name};\n")
    temps = "".join(f"    {k}_temp_path {directory}/{k}_temp;\n"
                    for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"daemon off;\nmaster_process on;\nworker_processes 1;\n{user}"
            f"pid {directory}/nginx.pid;\nerror_log {directory}/error.log info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    access_log {directory}/access.log;\n{temps}"
            f"    include {site_path};\n"
            "}\n")


def nginx_test(test, directory, site, name):
    """`nginx -t` of site (text) as name in directory, behind main_conf: asserts it passes."""
    site_path = os.path.join(directory, name)
    with open(site_path, "w") as f:
        f.write(site)
    conf = os.path.join(directory, "nginx.conf")
    with open(conf, "w") as f:
        f.write(main_conf(directory, site_path))
    out = subprocess.run(nginx_argv(directory, conf) + ["-t"], capture_output=True, timeout=60)
    err = out.stderr.decode()
    test.assertEqual(out.returncode, 0, err)
    test.assertIn("test is successful", err)


def nginx_argv(directory, conf):
    return [NGINX, "-p", directory + "/", "-e", os.path.join(directory, "error.log"), "-c", conf]


@unittest.skipIf(MISSING, f"{' and '.join(MISSING)} not installed")
class ShippedFile(unittest.TestCase):
    """`nginx -t` accepts the shipped file as it is, certificate paths aside."""

    def test_nginx_t_passes(self):
        d = tempfile.mkdtemp(prefix="wxs-nginx-t-")
        try:
            cert, key = make_certificate(d)
            with open(SHIPPED) as f:
                site = f.read()
            site = replace_once(site, CERT_PLACEHOLDER, cert)
            site = replace_once(site, KEY_PLACEHOLDER, key)
            nginx_test(self, d, site, "wxsession.conf")
        finally:
            shutil.rmtree(d, ignore_errors=True)


@unittest.skipIf(MISSING, f"{' and '.join(MISSING)} not installed")
class ThroughNginx(unittest.TestCase):
    """The login, code-only and One Stroke paths over https:// through nginx to wxsessiond.

    wxsessiond runs --dev style (simulator on) with trustForwardedFor=true and a login limiter of
    one login per address (burst 1, 1 a minute): each test logs in from its own loopback source
    address (127.0.0.N), and the limiter's answers show which address wxsessiond keyed on."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="wxs-nginx-")
        cls.server = None
        cls.nginx = None
        try:
            cls.cert, key = make_certificate(cls.dir)
            cls.server = Server({"trustForwardedFor": True, "log": {"access": True},
                                 "limits": {"loginBurst": 1, "loginsPerMinute": 1}},
                                args=("--dev",))
            cls.https_port = free_port()
            cls.http_port = free_port()
            with open(SHIPPED) as f:
                site = f.read()
            site = replace_once(site, "    listen 80;\n",
                                f"    listen 127.0.0.1:{cls.http_port};\n")
            site = replace_once(site, "    listen [::]:80;\n", "")
            site = replace_once(site, "    listen 443 ssl http2;\n",
                                f"    listen 127.0.0.1:{cls.https_port} ssl http2;\n")
            site = replace_once(site, "    listen [::]:443 ssl http2;\n", "")
            site = replace_once(site, "server 127.0.0.1:5757;",
                                f"server 127.0.0.1:{cls.server.port};")
            site = replace_once(site, CERT_PLACEHOLDER, cls.cert)
            site = replace_once(site, KEY_PLACEHOLDER, key)
            cls.rendered = site
            site_path = os.path.join(cls.dir, "wxsession.conf")
            with open(site_path, "w") as f:
                f.write(site)
            conf = os.path.join(cls.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(main_conf(cls.dir, site_path))
            cls.nginx = Process(nginx_argv(cls.dir, conf), "nginx")
            wait_port(cls.https_port, cls.nginx.proc, "nginx")
            wait_port(cls.http_port, cls.nginx.proc, "nginx")
            cls.tls = ssl.create_default_context(cafile=cls.cert)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.nginx:
            cls.nginx.stop()  # SIGTERM to the master's PID (daemon off: the child we started)
            cls.nginx.cleanup()
        if cls.server:
            cls.server.stop()
            cls.server.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def fail_with_logs(self, msg):
        with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
            nginx_log = f.read()[-2000:]
        self.fail(f"{msg}\n--- nginx error.log:\n{nginx_log}\n--- wxsessiond:\n"
                  f"{self.server.output()[-2000:]}")

    def https(self, method, path, headers=None, body=None, source="127.0.0.1"):
        """One request over HTTPS through nginx from source: (status, headers, body bytes)."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.https_port, timeout=30,
                                           context=self.tls, source_address=(source, 0))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def sim_login(self, user):
        """code, rawData and signature from the simulator on wxsessiond's own port."""
        status, _, body = self.server.request("GET", f"/__wxsim/login?user={user}")
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def login(self, user, source):
        """A first request (code + rawData + signature) through nginx; returns (status, body)."""
        creds = self.sim_login(user)
        status, _, body = self.https("GET", "/applet/session", login_headers(creds),
                                     source=source)
        return status, body, creds

    def test_login_then_code_only(self):
        status, body, creds = self.login("alice", "127.0.0.11")
        if status != 200:
            self.fail_with_logs(f"login through nginx: {status} {body!r}")
        info = json.loads(body)["wxUserInfo"]
        self.assertTrue(info["openId"])
        status, headers, body = self.https("GET", "/applet/session",
                                           {"X-WX-Code": creds["code"]}, source="127.0.0.11")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["wxUserInfo"]["openId"], info["openId"])
        self.assertIn("max-age=", headers.get("strict-transport-security", ""), "HSTS")
        self.assertNotIn("nginx/", headers.get("server", ""), "server_tokens off")

    def test_one_stroke_save_and_list(self):
        status, body, creds = self.login("bob", "127.0.0.12")
        self.assertEqual(status, 200, body)
        code = {"X-WX-Code": creds["code"]}
        actions = {"v": 1, "width": 600, "height": 400, "color": "#1f2937", "lineWidth": 6,
                   "points": [[60, 320], [300, 80], [540, 320]]}
        status, _, body = self.https(
            "POST", "/applet/session/paints/save", dict(code, **{"Content-Type":
                                                                "application/json"}),
            json.dumps({"id": "first", "actions": actions}).encode(), source="127.0.0.12")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["code"], 0, body)
        status, _, body = self.https("GET", "/applet/session/paints/list?limit=10", code,
                                     source="127.0.0.12")
        self.assertEqual(status, 200, body)
        data = json.loads(body)["data"]
        self.assertEqual([p["id"] for p in data], ["first"])
        self.assertEqual(json.loads(data[0]["actions"]), actions)

    def test_http_redirects_to_https(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)
        try:
            conn.request("GET", "/applet/session?x=1")
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 301)
            self.assertEqual(resp.getheader("Location"), "https://127.0.0.1/applet/session?x=1")
        finally:
            conn.close()

    def test_forwarded_address_reaches_wxsessiond(self):
        # a login through nginx from 127.0.0.21 spends 127.0.0.21's only token ...
        status, body, _ = self.login("carol", "127.0.0.21")
        self.assertEqual(status, 200, body)
        # ... which wxsessiond keyed on: the same address, named directly, has none left
        creds = self.sim_login("carol")
        status, _, body = self.server.request(
            "GET", "/applet/session", dict(login_headers(creds), **{"X-Forwarded-For":
                                                                    "127.0.0.21"}))
        self.assertEqual(status, 429, body)
        self.assertIn(b"ERR_TOO_MANY_LOGINS", body)
        # nginx's own address (the TCP peer wxsessiond saw) was not the key
        status, _, body = self.server.request(
            "GET", "/applet/session", dict(login_headers(creds), **{"X-Forwarded-For":
                                                                    "127.0.0.1"}))
        self.assertEqual(status, 200, body)
        # a client naming another address in X-Forwarded-For is still keyed on its own
        status, body, _ = self.login("dave", "127.0.0.22")
        self.assertEqual(status, 200, body)
        creds = self.sim_login("dave")
        status, _, body = self.https("GET", "/applet/session",
                                     dict(login_headers(creds), **{"X-Forwarded-For":
                                                                   "127.0.0.99"}),
                                     source="127.0.0.22")
        self.assertEqual(status, 429, body)

    def test_request_id_and_client_in_the_access_log(self):
        # nginx's $request_id becomes the request's id: returned to the client, in the log line
        # with the client's own address (trustForwardedFor)
        status, headers, _ = self.https("GET", "/applet/session", source="127.0.0.23")
        self.assertEqual(status, 200)
        rid = headers["x-request-id"]
        self.assertRegex(rid, r"^[0-9a-f]{32}$")  # nginx's, not one of wxsessiond's 24
        wait_until(lambda: f"id={rid}" in self.server.output(), "the access line")
        line = next(l for l in self.server.output().splitlines() if f"id={rid}" in l)
        self.assertIn("access client=127.0.0.23 method=GET path=/applet/session status=200",
                      line)

    def test_simulator_and_metrics_not_exposed(self):
        for path in ("/__wxsim/stats", "/__wxsim/login?user=eve", "/metrics", "/livez", "/"):
            status, _, _ = self.https("GET", path)
            self.assertEqual(status, 404, path)
        # wxsessiond itself serves the simulator (--dev): only nginx hides it
        self.assertEqual(self.server.request("GET", "/__wxsim/stats")[0], 200)

    def test_rendered_config_kept_the_shipped_settings(self):
        for line in ("keepalive 32;", "proxy_http_version 1.1;", 'proxy_set_header Connection "";',
                     "proxy_read_timeout 15s;", "client_max_body_size 1m;",
                     "ssl_protocols TLSv1.2 TLSv1.3;", "server_tokens off;"):
            self.assertIn(line, self.rendered)


if __name__ == "__main__":
    unittest.main()
