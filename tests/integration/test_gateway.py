"""test_gateway.py: the gateway (docs/gateway.md): wxsessiond's gateway.authPath endpoint, and
deploy/nginx/gateway.conf with Debian's real nginx in front of a backend in another language
(examples/gateway/backend.py, Python's http.server, a separate process) that echoes the headers
it received and counts the requests it served.

The shipped file is rendered for loopback (free ports, the test's wxsessiond and backend as the
upstreams; with the cache: its "#cache#" lines turned on, the cache in a temporary directory and
a short cache time) and wrapped in test_nginx's minimal nginx.conf. nginx, wxsessiond, the
simulator, the backend and Redis are started by the test and stopped by their PIDs. Waits are
hang guards, never timing assertions. Skipped, with the reason, without nginx.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from harness import (APP_ID, WXSESSIOND, Process, Redis, Server, Simulator, free_port,
                     login_headers, request, wait_port, wait_until)
from test_nginx import NGINX, main_conf, nginx_argv, nginx_test

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SHIPPED = os.path.join(REPO, "deploy", "nginx", "gateway.conf")
BACKEND = os.path.join(REPO, "examples", "gateway", "backend.py")
AUTH_PATH = "/__auth"
CACHE_SECONDS = 3  # the rendered cache time (the shipped file says 5 s)
BAD_TOKEN = "A" * 43  # well-formed, never issued


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def replace_once(text, old, new):
    """text with old replaced by new, which must occur exactly once (the shipped file's shape)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {SHIPPED}"
    return text.replace(old, new)


def render(server_port, backend_port, http_port, cache_dir=None):
    """The shipped file for loopback; cache_dir: with the auth cache on, kept there."""
    with open(SHIPPED) as f:
        site = f.read()
    site = replace_once(site, "    listen 80;\n", f"    listen 127.0.0.1:{http_port};\n")
    site = replace_once(site, "server 127.0.0.1:5757;", f"server 127.0.0.1:{server_port};")
    site = replace_once(site, "server 127.0.0.1:8081;", f"server 127.0.0.1:{backend_port};")
    if cache_dir is not None:
        site = re.sub(r"^(\s*)#cache# ", r"\1", site, flags=re.M)
        site = replace_once(site, "/run/nginx-wxsession-auth", cache_dir)
        site = replace_once(site, "proxy_cache_valid 200 401 5s;",
                            f"proxy_cache_valid 200 401 {CACHE_SECONDS}s;")
    return site


class Backend(Process):
    """examples/gateway/backend.py on a free loopback port."""

    def __init__(self):
        self.port = free_port()
        super().__init__([sys.executable, BACKEND, "--port", str(self.port)], "backend")
        wait_port(self.port, self.proc, "backend")

    def count(self):
        status, _, body = request(self.port, "GET", "/__backend/count")
        assert status == 200, body
        return json.loads(body)["count"]


class Nginx(Process):
    """nginx in the foreground with site (a rendered gateway.conf) in directory."""

    def __init__(self, directory, site, http_port):
        site_path = os.path.join(directory, "gateway.conf")
        with open(site_path, "w") as f:
            f.write(site)
        self.conf = os.path.join(directory, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(main_conf(directory, site_path))
        self.argv = nginx_argv(directory, self.conf)
        super().__init__(self.argv, "nginx")
        wait_port(http_port, self.proc, "nginx")


@unittest.skipIf(NGINX is None, "nginx not installed")
class ShippedFile(unittest.TestCase):
    """`nginx -t` accepts the shipped file rendered for loopback, with and without the cache."""

    def check(self, cache):
        d = tempfile.mkdtemp(prefix="wxs-gw-t-")
        try:
            site = render(5757, 8081, free_port(), os.path.join(d, "cache") if cache else None)
            nginx_test(self, d, site, "gateway.conf")
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_nginx_t_passes(self):
        self.check(cache=False)

    def test_nginx_t_passes_with_the_cache(self):
        self.check(cache=True)


class Stack:
    """A simulator, wxsessiond (store_config), the backend and nginx with the rendered file."""
    options = {}  # extra server options
    cache = False

    @classmethod
    def store_config(cls):
        return {"store": "sqlite", "sqlite": {"path": os.path.join(cls.tmp, "s.db")}}

    @classmethod
    def setUpClass(cls):
        cls.procs = []
        cls.tmp = tempfile.mkdtemp(prefix="wxs-gw-")
        cls.server = None
        try:
            cls.sim = Simulator()
            cls.procs.append(cls.sim)
            cls.start_store()
            cls.metrics_port = free_port()
            cfg = {"wechat": {"apiBase": cls.sim.base, "timeoutMs": 1000,
                              "connectTimeoutMs": 1000},
                   "trustForwardedFor": True, "metrics": {"port": cls.metrics_port}}
            cfg.update(cls.store_config())
            for k, v in cls.options.items():
                cfg.setdefault(k, {}).update(v) if isinstance(v, dict) else cfg.update({k: v})
            cls.server = Server(cfg, env={"WXS_LOG_LEVEL": "debug"})
            cls.backend = Backend()
            cls.procs.append(cls.backend)
            cls.http_port = free_port()
            cache_dir = os.path.join(cls.tmp, "auth-cache") if cls.cache else None
            site = render(cls.server.port, cls.backend.port, cls.http_port, cache_dir)
            cls.nginx = Nginx(cls.tmp, site, cls.http_port)
            cls.procs.append(cls.nginx)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start_store(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        status, log = 0, ""
        if cls.server is not None:
            status = cls.server.stop()
            log = cls.server.output()
            cls.server.cleanup()
        for p in reversed(cls.procs):
            p.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert status == 0, f"wxsessiond exited with {status}:\n{log[-2000:]}"

    # ---- helpers
    def via_nginx(self, method, path, headers=None, body=None):
        """(status, headers, JSON body or None) of a request to nginx."""
        h = dict(headers or {})
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        if data is not None:
            h["Content-Type"] = "application/json"
        status, hdrs, raw = request(self.http_port, method, path, h, data)
        is_json = hdrs.get("content-type", "").startswith("application/json")
        return status, hdrs, json.loads(raw) if raw and is_json else None

    def login(self, user, **extra):
        """A token from POST /applet/login through nginx, with the simulator's login."""
        creds = self.sim.login(user, **extra)
        status, _, answer = self.via_nginx("POST", "/applet/login", body={"code": creds["code"]})
        self.assertEqual(status, 200, answer)
        return answer["token"], creds

    def assert_refused(self, status_headers_body, status=401, code="ERR_TOKEN_INVALID"):
        status_, headers, body = status_headers_body
        self.assertEqual(status_, status, body)
        self.assertTrue(headers.get("content-type", "").startswith("application/json"), headers)
        self.assertEqual(body["error"]["code"], code, body)
        self.assertIsInstance(body["error"]["message"], str)

    def assert_reaches(self, answer, openid, unionid=None):
        status, _, body = answer
        self.assertEqual(status, 200, body)
        self.assertEqual(body["openId"], openid)
        self.assertEqual(body["unionId"], unionid)
        self.assertEqual(body["appId"], APP_ID)
        return body


@unittest.skipIf(NGINX is None, "nginx not installed")
class ThroughNginx(Stack, unittest.TestCase):
    """The gateway on SQLite, no cache."""

    def test_a_logged_in_request_reaches_the_backend_with_its_identity(self):
        token, creds = self.login("gw-ann")
        body = self.assert_reaches(self.via_nginx("GET", "/api/hello?x=1", bearer(token)),
                                   creds["openid"])
        self.assertEqual(body["path"], "/api/hello?x=1")
        self.assertNotIn("x-wx-unionid", body["headers"])
        # the credentials stay at nginx: the backend gets the identity, not the token
        self.assertNotIn("authorization", body["headers"])
        self.assertNotIn(token, json.dumps(body))
        # a body goes through to the backend (the auth subrequest has none)
        data = {"item": "x" * 5000}
        status, _, echo = self.via_nginx("POST", "/api/items", bearer(token), data)
        self.assertEqual(status, 200, echo)
        self.assertEqual(echo["bodyBytes"], len(json.dumps(data)))
        self.assertEqual(echo["openId"], creds["openid"])

    def test_a_user_with_a_unionid_gets_it(self):
        token, creds = self.login("gw-union", unionid="1")
        self.assertTrue(creds["unionid"])
        self.assert_reaches(self.via_nginx("GET", "/api/me", bearer(token)), creds["openid"],
                            creds["unionid"])

    def test_refused_requests_never_reach_the_backend(self):
        token, _ = self.login("gw-refused")
        status, _, _ = self.via_nginx("POST", "/applet/logout", bearer(token), {})
        self.assertEqual(status, 200)
        before = self.backend.count()
        for headers in ({}, bearer(BAD_TOKEN), bearer(token),
                        {"Authorization": "Basic Zm9vOmJhcg=="}, {"Authorization": "Bearer"},
                        {"X-WX-Code": "no-such-code"}):
            with self.subTest(headers=list(headers)):
                self.assert_refused(self.via_nginx("GET", "/api/data", headers))
                self.assert_refused(self.via_nginx("POST", "/api/data", headers, {"a": 1}))
        self.assertEqual(self.backend.count(), before)

    def test_forged_identity_headers_are_overwritten(self):
        token, creds = self.login("gw-forger")
        forged = {"X-WX-OpenId": "o-forged-openid", "X-WX-UnionId": "u-forged-unionid",
                  "X-WX-AppId": "wx-forged-appid"}
        body = self.assert_reaches(
            self.via_nginx("GET", "/api/x", dict(bearer(token), **forged)), creds["openid"])
        self.assertNotIn("x-wx-unionid", body["headers"])  # absent, not the forged one
        for value in forged.values():
            self.assertNotIn(value, json.dumps(body))
        # and forged headers alone are no credential
        before = self.backend.count()
        self.assert_refused(self.via_nginx("GET", "/api/x", forged))
        self.assertEqual(self.backend.count(), before)

    def test_legacy_code_login_then_code_only(self):
        creds = self.sim.login("gw-legacy")
        self.assert_reaches(self.via_nginx("GET", "/api/legacy", login_headers(creds)),
                            creds["openid"])
        body = self.assert_reaches(
            self.via_nginx("GET", "/api/legacy", {"X-WX-Code": creds["code"]}), creds["openid"])
        for name in ("x-wx-code", "x-wx-rawdata", "x-wx-signature"):
            self.assertNotIn(name, body["headers"])
        # a bad signature and a code the store does not know are refused
        before = self.backend.count()
        other = self.sim.login("gw-legacy-2")
        self.assert_refused(self.via_nginx("GET", "/api/legacy",
                                           login_headers(other, signature="0" * 40)))
        self.assert_refused(self.via_nginx("GET", "/api/legacy", {"X-WX-Code": other["code"]}))
        self.assertEqual(self.backend.count(), before)

    def test_the_endpoint_is_not_reachable_from_outside(self):
        token, _ = self.login("gw-outside")
        for path in (AUTH_PATH, "/__wxs_auth"):
            with self.subTest(path=path):
                self.assertEqual(self.via_nginx("GET", path, bearer(token))[0], 404)


@unittest.skipIf(NGINX is None, "nginx not installed")
class Endpoint(Stack, unittest.TestCase):
    """gateway.authPath on wxsessiond directly: headers only, empty bodies, counted in the
    metrics. (nginx runs too, unused: the stack is the same.)"""

    def auth(self, method="GET", headers=None, body=None):
        return self.server.request(method, AUTH_PATH, headers, body)

    def test_200_with_the_identity_and_an_empty_body(self):
        token, creds = self.login("gw-direct", unionid="1")
        for method, body in (("GET", None), ("POST", b'{"ignored": true}'), ("DELETE", None)):
            with self.subTest(method=method):
                status, headers, raw = self.auth(method, bearer(token), body)
                self.assertEqual(status, 200, raw)
                self.assertEqual(raw, b"")
                self.assertEqual(headers["x-wx-openid"], creds["openid"])
                self.assertEqual(headers["x-wx-unionid"], creds["unionid"])
                self.assertEqual(headers["x-wx-appid"], APP_ID)
                self.assertEqual(headers["cache-control"], "no-store")
        status, headers, raw = self.auth("HEAD", bearer(token))
        self.assertEqual((status, headers["x-wx-openid"]), (200, creds["openid"]))

    def test_no_unionid_header_without_one(self):
        token, creds = self.login("gw-direct-nounion", unionid="0")
        status, headers, _ = self.auth("GET", bearer(token))
        self.assertEqual(status, 200)
        self.assertNotIn("x-wx-unionid", headers)
        # nor for an X-WX-Code session (the compatible protocol has no unionId)
        creds = self.sim.login("gw-direct-code", unionid="1")
        status, headers, raw = self.auth("GET", login_headers(creds))
        self.assertEqual((status, raw), (200, b""))
        self.assertEqual(headers["x-wx-openid"], creds["openid"])
        self.assertNotIn("x-wx-unionid", headers)

    def test_401_with_an_empty_body(self):
        token, _ = self.login("gw-direct-401")
        self.server.request("POST", "/applet/logout", dict(bearer(token),
                            **{"Content-Type": "application/json"}), b"{}")
        for headers in ({}, bearer(BAD_TOKEN), bearer(token), {"Authorization": "Basic eDp5"},
                        {"X-WX-Code": "unknown-code"}, {"X-WX-OpenId": "o-forged"}):
            with self.subTest(headers=list(headers)):
                status, hdrs, raw = self.auth("GET", headers)
                self.assertEqual((status, raw), (401, b""))
                self.assertNotIn("x-wx-openid", hdrs)
                self.assertIn("Bearer", hdrs["www-authenticate"])

    def test_counted_in_the_metrics(self):
        self.auth("GET")
        status, _, body = request(self.metrics_port, "GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertRegex(body.decode(), r'wxsession_http_requests_total\{route="gateway",'
                                        r'code="4xx"\} [1-9]')

    def test_no_secret_in_the_log(self):
        token, _ = self.login("gw-log")
        self.auth("GET", bearer(token))
        self.assertNotIn(token, self.server.output())


@unittest.skipIf(NGINX is None, "nginx not installed")
class Expiry(Stack, unittest.TestCase):
    """A token that expires (short lifetimes) stops reaching the backend."""
    options = {"session": {"tokenIdleSeconds": 2, "tokenMaxSeconds": 4}}

    def test_an_expired_token_never_reaches_the_backend(self):
        token, creds = self.login("gw-expiry")
        self.assert_reaches(self.via_nginx("GET", "/api/e", bearer(token)), creds["openid"])
        wait_until(lambda: self.via_nginx("GET", "/api/e", bearer(token))[0] == 401,
                   "the token expires", timeout=30)
        before = self.backend.count()
        self.assert_refused(self.via_nginx("GET", "/api/e", bearer(token)))
        self.assertEqual(self.backend.count(), before)


class OptionChecks(unittest.TestCase):
    """gateway.authPath's checks, and "" turning the endpoint off."""

    def check_config(self, *flags):
        out = subprocess.run([WXSESSIOND, "--dev", "--check-config"] + list(flags),
                             capture_output=True, text=True, timeout=30)
        return out.returncode, out.stdout + out.stderr

    def test_bad_paths_stop_start_up(self):
        for path, why in (("/applet/auth", "outside routeBasePath"),
                          ("/applet", "outside routeBasePath"),
                          ("/__wxsim/auth", "/__wxsim"), ("/healthz", "/healthz"),
                          ("auth", "must start with '/'"), ("/a/../b", "'..'")):
            with self.subTest(path=path):
                rc, out = self.check_config(f"--gateway-auth-path={path}")
                self.assertNotEqual(rc, 0, out)
                self.assertIn("gateway.authPath", out)
                self.assertIn(why, out)
        rc, out = self.check_config("--gateway-auth-path=/internal/auth",
                                    "--route-base-path=/api/v1")
        self.assertEqual(rc, 0, out)

    def test_empty_turns_it_off(self):
        tmp = tempfile.mkdtemp(prefix="wxs-gw-off-")
        server = Server({"gateway": {"authPath": ""}, "store": "sqlite",
                         "sqlite": {"path": os.path.join(tmp, "s.db")}}, args=("--dev",))
        try:
            self.assertEqual(server.request("GET", AUTH_PATH)[0], 404)
            self.assertEqual(server.request("GET", "/readyz")[0], 200)
            status = server.stop()
            self.assertEqual(status, 0, server.output()[-2000:])
        finally:
            server.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_another_path(self):
        tmp = tempfile.mkdtemp(prefix="wxs-gw-path-")
        server = Server({"gateway": {"authPath": "/internal/who"}, "store": "sqlite",
                         "sqlite": {"path": os.path.join(tmp, "s.db")}}, args=("--dev",))
        try:
            self.assertEqual(server.request("GET", "/internal/who")[0], 401)
            self.assertEqual(server.request("GET", AUTH_PATH)[0], 404)
            self.assertEqual(server.stop(), 0, server.output()[-2000:])
        finally:
            server.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


@unittest.skipIf(NGINX is None, "nginx not installed")
class CacheAndStoreDown(Stack, unittest.TestCase):
    """On Redis with the auth cache on: a logged-out token passes until its cached answer
    expires (the revocation delay), then never again; the store down is a JSON 503 (last: the
    test stops Redis)."""
    cache = True

    @classmethod
    def start_store(cls):
        cls.redis = Redis()
        cls.procs.append(cls.redis)

    @classmethod
    def store_config(cls):
        return {"store": "redis", "redis": {"port": cls.redis.port, "timeoutMs": 1000}}

    def test_a_logged_out_token_passes_until_the_cache_expires(self):
        token, creds = self.login("gw-cache")
        cached_at = time.monotonic()
        self.assert_reaches(self.via_nginx("GET", "/api/c", bearer(token)), creds["openid"])
        status, _, _ = self.via_nginx("POST", "/applet/logout", bearer(token), {})
        self.assertEqual(status, 200)
        answer = self.via_nginx("GET", "/api/c", bearer(token))
        if time.monotonic() - cached_at < CACHE_SECONDS - 1:  # still within the cache time
            self.assert_reaches(answer, creds["openid"])
        wait_until(lambda: self.via_nginx("GET", "/api/c", bearer(token))[0] == 401,
                   "the cached answer expires", timeout=30)
        before = self.backend.count()
        self.assert_refused(self.via_nginx("GET", "/api/c", bearer(token)))
        self.assertEqual(self.backend.count(), before)

    def test_legacy_codes_are_not_cached(self):
        creds = self.sim.login("gw-cache-legacy")
        self.assert_reaches(self.via_nginx("GET", "/api/l", login_headers(creds)),
                            creds["openid"])
        other = self.sim.login("gw-cache-legacy-2")  # same (empty) Authorization: not cached
        self.assert_reaches(self.via_nginx("GET", "/api/l", login_headers(other)),
                            other["openid"])

    def test_zz_store_down_is_a_json_503(self):
        token, _ = self.login("gw-down")  # never through /api/: not in the cache
        self.redis.stop()
        before = self.backend.count()
        self.assert_refused(self.via_nginx("GET", "/api/d", bearer(token)), 503,
                            "ERR_STORE_UNAVAILABLE")
        self.assertEqual(self.backend.count(), before)
        status, _, raw = self.server.request("GET", AUTH_PATH, bearer(token))
        self.assertEqual((status, raw), (503, b""))


if __name__ == "__main__":
    unittest.main()
