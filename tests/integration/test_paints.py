"""test_paints.py: the One Stroke routes against the real wxsessiond: envelopes, owner scoping,
paging, limits, urlencoded bodies and durability across SIGKILL; on SQLite (sessions in SQLite,
and sessions in Redis with paints in SQLite), and on MongoDB when WXS_TEST_MONGODB_URI is set
(run_mongodb.py sets it)."""
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import Redis, Server, Simulator, login_headers, wait_until

OK_EMPTY = '{"code":0,"msg":"success","data":{}}'


def fail_reason(body):
    doc = json.loads(body)
    assert doc["code"] == -1 and doc["msg"] == "fail", body
    return doc["error"]["reason"]


class PaintsApi:
    """The cases; subclasses choose the stores."""
    paint_limits = {"maxActionsBytes": 4096, "maxPerUser": 30, "pageSize": 10,
                    "maxPageSize": 50}

    @classmethod
    def setUpClass(cls):
        cls.procs = []
        cls.tmp = tempfile.mkdtemp(prefix="wxs-paints-")
        cls.sim = Simulator()
        cls.procs.append(cls.sim)
        cfg = {"wechat": {"apiBase": cls.sim.base}, "sqlite": {"path": cls.db_path()},
               "paints": dict(cls.paint_limits)}
        cfg.update(cls.extra_config())
        cls.server = Server(cfg)
        cls.procs.append(cls.server)
        cls.users = {}

    @classmethod
    def extra_config(cls):
        return {}

    @classmethod
    def db_path(cls):
        return os.path.join(cls.tmp, "one-stroke.db")

    @classmethod
    def tearDownClass(cls):
        status = cls.server.stop()
        for p in reversed(cls.procs):
            p.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert status == 0, f"wxsessiond exited with {status}"

    def user(self, name):
        """Headers of a logged-in user (logged in once per class, then code-only)."""
        if name not in self.users:
            creds = self.sim.login(name)
            status, _, body = self.server.request("GET", "/applet/session", login_headers(creds))
            assert status == 200, body
            self.users[name] = {"X-WX-Code": creds["code"]}
        return dict(self.users[name])

    def call(self, method, route, user=None, body=None, ctype="application/json"):
        headers = self.user(user) if user else {}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = ctype
        status, _, out = self.server.request(method, "/applet/session/paints/" + route, headers,
                                             data)
        return status, out.decode()

    def save(self, user, pid, actions):
        return self.call("POST", "save", user, {"id": pid, "actions": actions})

    def list_all(self, user, limit=None):
        items, cursor = [], None
        for _ in range(1000):
            q = {}
            if limit:
                q["limit"] = limit
            if cursor:
                q["cursor"] = cursor
            status, body = self.call("GET", "list?" + urllib.parse.urlencode(q), user)
            assert status == 200, body
            doc = json.loads(body)
            assert doc["code"] == 0, body
            items += doc["data"]
            cursor = doc["next"]
            if cursor is None:
                return items
        raise AssertionError("paging did not end")

    # ---- envelopes
    def test_save_list_delete_envelopes(self):
        actions = json.dumps([{"type": "moveTo", "x": 1, "y": 2}, {"type": "lineTo", "x": 3}])
        self.assertEqual(self.save("ann", "d1", actions), (200, OK_EMPTY))
        status, body = self.call("GET", "list", "ann")
        self.assertEqual(status, 200)
        doc = json.loads(body)
        self.assertEqual([list(doc), doc["code"], doc["msg"]],
                         [["code", "msg", "data", "next"], 0, "success"])
        self.assertEqual(doc["data"][0]["id"], "d1")
        self.assertEqual(doc["data"][0]["actions"], actions, "actions stored as given")
        self.assertEqual(self.call("POST", "delete", "ann", {"id": "d1"}), (200, OK_EMPTY))
        self.assertEqual(json.loads(self.call("GET", "list", "ann")[1])["data"], [])
        status, body = self.call("POST", "delete", "ann", {"id": "d1"})
        self.assertEqual((status, fail_reason(body)), (200, "ERR_NOT_FOUND"))

    def test_no_session(self):
        for method, route, body in (("GET", "list", None), ("POST", "save", {"id": "x"}),
                                    ("POST", "delete", {"id": "x"})):
            status, out = self.call(method, route, None, body)
            self.assertEqual((status, fail_reason(out)), (200, "ERR_NO_SESSION"))
        # an expired code gets the session layer's answer, which makes the client log in again
        status, _, out = self.server.request("GET", "/applet/session/paints/list",
                                             {"X-WX-Code": "expired-code"})
        self.assertEqual(json.loads(out)["reason"], "ERR_SESSION_EXPIRED")

    # ---- owner scoping (the original keyed saves by id alone)
    def test_owner_scoping(self):
        self.assertEqual(self.save("alice", "shared-id", '"alice art"')[1], OK_EMPTY)
        self.assertEqual(self.save("alice", "alice-only", '"mine"')[1], OK_EMPTY)
        self.assertEqual([p["id"] for p in self.list_all("bob")
                          if p["id"] in ("shared-id", "alice-only")], [])
        # bob saving alice's id makes bob's own drawing; alice's is untouched
        self.assertEqual(self.save("bob", "shared-id", '"bob art"')[1], OK_EMPTY)
        alice = {p["id"]: p["actions"] for p in self.list_all("alice")}
        bob = {p["id"]: p["actions"] for p in self.list_all("bob")}
        self.assertEqual(alice["shared-id"], '"alice art"')
        self.assertEqual(bob["shared-id"], '"bob art"')
        status, body = self.call("POST", "delete", "bob", {"id": "alice-only"})
        self.assertEqual(fail_reason(body), "ERR_NOT_FOUND")
        self.assertIn("alice-only", {p["id"] for p in self.list_all("alice")})

    # ---- paging
    def test_paging_newest_first(self):
        ids = [f"p{i:03d}" for i in range(25)]
        for pid in ids:
            self.assertEqual(self.save("pager", pid, json.dumps([pid]))[1], OK_EMPTY)
        status, body = self.call("GET", "list", "pager")
        doc = json.loads(body)
        self.assertEqual(len(doc["data"]), 10, "paints.pageSize")
        self.assertIsNotNone(doc["next"])
        got = [p["id"] for p in self.list_all("pager", limit=7)]
        self.assertEqual(got, list(reversed(ids)), "newest first, no gaps, no repeats")
        # re-saving keeps a drawing's place (createdAt) and updates its actions
        self.assertEqual(self.save("pager", "p003", '["edited"]')[1], OK_EMPTY)
        items = self.list_all("pager", limit=50)
        self.assertEqual([p["id"] for p in items], list(reversed(ids)))
        edited = next(p for p in items if p["id"] == "p003")
        self.assertEqual(edited["actions"], '["edited"]')
        self.assertGreaterEqual(edited["updatedAt"], edited["createdAt"])

    def test_bad_paging_parameters(self):
        for q, reason in (("limit=0", "ERR_BAD_LIMIT"), ("limit=51", "ERR_BAD_LIMIT"),
                          ("limit=x", "ERR_BAD_LIMIT"), ("cursor=nonsense", "ERR_BAD_CURSOR"),
                          ("cursor=12.bad%2Fid", "ERR_BAD_CURSOR")):
            status, body = self.call("GET", "list?" + q, "ann")
            self.assertEqual((status, fail_reason(body)), (200, reason), q)

    # ---- bodies and limits
    def test_urlencoded_bodies(self):
        actions = '[{"t":"微信 😀"}]'
        body = urllib.parse.urlencode({"id": "form-1", "actions": actions}).encode()
        status, out = self.call("POST", "save", "carl", body,
                                "application/x-www-form-urlencoded")
        self.assertEqual((status, out), (200, OK_EMPTY))
        self.assertEqual({p["id"]: p["actions"] for p in self.list_all("carl")}["form-1"],
                         actions)
        status, out = self.call("POST", "delete", "carl", b"id=form-1",
                                "application/x-www-form-urlencoded")
        self.assertEqual((status, out), (200, OK_EMPTY))

    def test_bad_bodies_change_nothing(self):
        before = self.list_all("dora")
        cases = [
            ({"actions": "[]"}, "ERR_MISSING_ID"),
            ({"id": "ok"}, "ERR_MISSING_ACTIONS"),
            ({"id": "", "actions": "[]"}, "ERR_BAD_ID"),
            ({"id": "a" * 65, "actions": "[]"}, "ERR_BAD_ID"),
            ({"id": "../etc", "actions": "[]"}, "ERR_BAD_ID"),
            ({"id": "ok", "actions": "not json"}, "ERR_BAD_ACTIONS"),
            ({"id": "ok", "actions": 12}, "ERR_BAD_ACTIONS"),
            ({"id": "ok", "actions": json.dumps(["x" * 5000])}, "ERR_ACTIONS_TOO_LARGE"),
            (b"{not json", "ERR_BAD_BODY"),
            (b"[1,2]", "ERR_BAD_BODY"),
        ]
        for body, reason in cases:
            status, out = self.call("POST", "save", "dora", body)
            self.assertEqual((status, fail_reason(out)), (200, reason), body)
        self.assertEqual(self.list_all("dora"), before)
        status, _, _ = self.server.request("GET", "/applet/session/paints/save", self.user("dora"))
        self.assertEqual(status, 405)

    def test_drawings_per_user_limit(self):
        for i in range(30):
            self.assertEqual(self.save("full", f"f{i}", "[]")[1], OK_EMPTY)
        status, out = self.save("full", "one-too-many", "[]")
        self.assertEqual((status, fail_reason(out)), (200, "ERR_TOO_MANY_PAINTS"))
        self.assertEqual(len(self.list_all("full")), 30)
        self.assertEqual(self.save("full", "f5", '["still editable"]')[1], OK_EMPTY)
        self.assertEqual(self.call("POST", "delete", "full", {"id": "f0"})[1], OK_EMPTY)
        self.assertEqual(self.save("full", "one-too-many", "[]")[1], OK_EMPTY, "a freed slot")


class SqlitePaints(PaintsApi, unittest.TestCase):
    pass


class RedisSessionsSqlitePaints(PaintsApi, unittest.TestCase):
    """Sessions in Redis, drawings in SQLite: each store chosen in config."""

    @classmethod
    def setUpClass(cls):
        cls.redis = Redis()
        super().setUpClass()
        cls.procs.insert(0, cls.redis)

    @classmethod
    def extra_config(cls):
        return {"store": "redis", "redis": {"port": cls.redis.port}}


def mongo_uri_on(uri, db):
    """uri with its database replaced by db (the store takes the URI's database before
    mongo.database); a database that held the credentials stays as authSource."""
    parts = urllib.parse.urlsplit(uri)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    orig = parts.path.lstrip("/")
    if orig and "@" in parts.netloc and not any(k.lower() == "authsource" for k, _ in query):
        query.append(("authSource", orig))
    return urllib.parse.urlunsplit(parts._replace(path="/" + db,
                                                  query=urllib.parse.urlencode(query)))


@unittest.skipUnless(os.environ.get("WXS_TEST_MONGODB_URI"),
                     "WXS_TEST_MONGODB_URI is not set (run_mongodb.py starts a server and sets it)")
class MongoPaints(PaintsApi, unittest.TestCase):
    """The routes on the MongoDB store (run by run_mongodb.py). The test database is left on the
    server: the test server is thrown away whole; on a real MongoDB, drop wxs_test_* by hand."""

    @classmethod
    def extra_config(cls):
        db = f"wxs_test_{os.getpid()}_{int(time.time())}"
        return {"paints": dict(cls.paint_limits, store="mongodb"),
                "mongo": {"uri": mongo_uri_on(os.environ["WXS_TEST_MONGODB_URI"], db)}}

    # Saves of one new id at once (through both workers, so two store instances) are all
    # acknowledged and leave one drawing: the unique {openId, id} index and the store's retry
    # after a duplicate key.
    def test_concurrent_saves_of_one_new_id(self):
        self.user("racer")
        ids, threads_per_id = [f"r{i}" for i in range(8)], 6
        answers = []

        def saver(pid, n):
            answers.append(self.save("racer", pid, json.dumps([pid, n])))

        threads = [threading.Thread(target=saver, args=(pid, n))
                   for pid in ids for n in range(threads_per_id)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        acked = sum(1 for a in answers if a == (200, OK_EMPTY))
        got = sorted(p["id"] for p in self.list_all("racer", limit=50))
        print(f"concurrent saves of one new id over HTTP: {acked} of {len(threads)} "
              f"acknowledged, {len(got)} drawings for {len(ids)} ids")
        self.assertEqual(acked, len(threads), answers)
        self.assertEqual(got, sorted(ids))


def backslashes(n):
    """Actions of n raw bytes (a JSON string of backslashes) that take about 2n once escaped in
    the list answer: the most escaping valid JSON text can need."""
    return '["' + "\\" * (n - 4) + '"]'


class PageBudget(unittest.TestCase):
    """A list answer has a byte budget (paints.maxPageBytes) counted on the escaped JSON it
    sends: a page past it ends early with a next cursor, always holds one drawing, and the
    cursors lead through every drawing once. HEAD answers the same length as GET."""

    BUDGET = 20000

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="wxs-pagebytes-")
        cls.sim = Simulator()
        cls.server = Server({"wechat": {"apiBase": cls.sim.base},
                             "sqlite": {"path": os.path.join(cls.tmp, "p.db")},
                             "paints": {"maxActionsBytes": 8192, "maxPageBytes": cls.BUDGET}})
        creds = cls.sim.login("budget")
        status, _, body = cls.server.request("GET", "/applet/session", login_headers(creds))
        assert status == 200, body
        cls.headers = {"X-WX-Code": creds["code"]}

    @classmethod
    def tearDownClass(cls):
        status = cls.server.stop()
        cls.server.cleanup()
        cls.sim.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert status == 0, f"wxsessiond exited with {status}"

    def save(self, pid, actions):
        status, _, out = self.server.request(
            "POST", "/applet/session/paints/save",
            dict(self.headers, **{"Content-Type": "application/json"}),
            json.dumps({"id": pid, "actions": actions}).encode())
        self.assertEqual((status, out.decode()), (200, OK_EMPTY))

    def page(self, method="GET", cursor=None, limit=100):
        q = {"limit": limit}
        if cursor:
            q["cursor"] = cursor
        return self.server.request(method, "/applet/session/paints/list?" +
                                   urllib.parse.urlencode(q), self.headers)

    def test_pages_cut_at_the_budget_and_cursors_visit_each_drawing_once(self):
        actions = backslashes(4000)  # about 8,000 bytes escaped: two per 20,000-byte page
        ids = [f"b{i:02d}" for i in range(9)]
        for pid in ids:
            self.save(pid, actions)
        got, cursor, pages = [], None, 0
        while True:
            status, headers, body = self.page(cursor=cursor)
            self.assertEqual(status, 200)
            self.assertLessEqual(len(body), self.BUDGET, "within paints.maxPageBytes")
            doc = json.loads(body)
            self.assertGreaterEqual(len(doc["data"]), 1, "a page holds at least one drawing")
            self.assertTrue(all(p["actions"] == actions for p in doc["data"]))
            got += [p["id"] for p in doc["data"]]
            pages += 1
            # HEAD: the same status and Content-Length, no body
            hstatus, hheaders, hbody = self.page("HEAD", cursor=cursor)
            self.assertEqual((hstatus, hheaders["content-length"], hbody),
                             (200, headers["content-length"], b""))
            cursor = doc["next"]
            if cursor is None:
                break
            self.assertEqual(cursor, f'{doc["data"][-1]["createdAt"]}.{doc["data"][-1]["id"]}')
        self.assertEqual(got, list(reversed(ids)), "every drawing once, newest first")
        self.assertEqual(pages, 5, "cut by bytes (two per page), not by the limit of 100")

    def test_a_drawing_larger_than_the_budget_is_a_page_of_its_own(self):
        # a second user, with drawings each larger than the budget
        creds = self.sim.login("big-pages")
        status, _, body = self.server.request("GET", "/applet/session", login_headers(creds))
        self.assertEqual(status, 200, body)
        headers = {"X-WX-Code": creds["code"]}
        big = backslashes(8192)  # about 16,400 bytes escaped
        for pid in ("x1", "x2"):
            status, _, out = self.server.request(
                "POST", "/applet/session/paints/save",
                dict(headers, **{"Content-Type": "application/json"}),
                json.dumps({"id": pid, "actions": big}).encode())
            self.assertEqual((status, out.decode()), (200, OK_EMPTY))
        status, _, body = self.server.request("GET", "/applet/session/paints/list", headers)
        doc = json.loads(body)
        self.assertEqual([p["id"] for p in doc["data"]], ["x2"])
        self.assertIsNotNone(doc["next"])
        self.assertLessEqual(len(body), 2 * 8192 + 320, "one drawing: 2 x maxActionsBytes + 320")


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


class WebPage(unittest.TestCase):
    """The demo web page and client files: served only with the simulator (--dev), with
    security and cache headers; / and {routeBasePath} lead to it."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="wxs-webpage-")
        cls.dev = Server({"sqlite": {"path": os.path.join(cls.tmp, "dev.db")}}, args=("--dev",))
        cls.sim = Simulator()
        cls.prod = Server({"wechat": {"apiBase": cls.sim.base},
                           "sqlite": {"path": os.path.join(cls.tmp, "prod.db")}})

    @classmethod
    def tearDownClass(cls):
        statuses = [cls.dev.stop(), cls.prod.stop()]
        for p in (cls.dev, cls.prod, cls.sim):
            p.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert statuses == [0, 0], statuses

    def test_page_and_files_carry_security_and_cache_headers(self):
        for path, ctype, cache in (("/applet/", "text/html", "no-cache"),
                                   ("/applet/index.html", "text/html", "no-cache"),
                                   ("/applet/app.js", "text/javascript", "max-age=300"),
                                   ("/applet/style.css", "text/css", "max-age=300"),
                                   ("/applet/client/wxsession.js", "text/javascript",
                                    "max-age=300")):
            for method in ("GET", "HEAD"):
                status, headers, body = self.dev.request(method, path)
                self.assertEqual(status, 200, path)
                self.assertTrue(headers["content-type"].startswith(ctype), path)
                self.assertEqual(headers["x-content-type-options"], "nosniff", path)
                self.assertEqual(headers["content-security-policy"], CSP, path)
                self.assertEqual(headers["x-frame-options"], "DENY", path)
                self.assertEqual(headers["cache-control"], cache, path)
                self.assertEqual(len(body), 0 if method == "HEAD" else
                                 int(headers["content-length"]), path)

    def test_page_complies_with_its_policy(self):
        """No inline script, style or event handler: the policy allows none."""
        _, _, html = self.dev.request("GET", "/applet/")
        html = html.decode()
        self.assertRegex(html, r"<script src=")
        self.assertNotRegex(html, r"<script(?![^>]*\bsrc=)[^>]*>")
        self.assertNotRegex(html, r"<style|\sstyle=|\son[a-z]+=|javascript:")
        for src in re.findall(r'(?:src|href)="([^"]+)"', html):
            status, _, _ = self.dev.request("GET", "/applet/" + src)
            self.assertEqual(status, 200, f"{src}: every file the page names is served")

    def test_root_and_base_redirect_to_the_page(self):
        for path in ("/", "/applet"):
            for method in ("GET", "HEAD"):
                status, headers, _ = self.dev.request(method, path)
                self.assertIn(status, (301, 302), path)
                self.assertEqual(headers["location"], "/applet/", path)
        status, _, _ = self.dev.request("POST", "/")
        self.assertEqual(status, 404)

    def test_no_page_without_the_simulator(self):
        for path in ("/", "/applet", "/applet/", "/applet/index.html", "/applet/app.js",
                     "/applet/client/wxsession.js"):
            status, headers, body = self.prod.request("GET", path)
            self.assertEqual(status, 404, path)
            self.assertEqual(json.loads(body)["error"]["code"], "ERR_NOT_FOUND", path)
            self.assertNotIn("location", headers)
        # the API itself is there
        self.assertEqual(self.prod.request("GET", "/applet/session")[0], 200)


class Durability(unittest.TestCase):
    """Saves acknowledged while the server is killed with SIGKILL are all there after restart."""

    def test_acknowledged_saves_survive_sigkill(self):
        tmp = tempfile.mkdtemp(prefix="wxs-durable-")
        sim = Simulator()
        cfg = {"wechat": {"apiBase": sim.base}, "sqlite": {"path": os.path.join(tmp, "d.db")}}
        server = Server(cfg)
        try:
            creds = sim.login("durable")
            status, _, body = server.request("GET", "/applet/session", login_headers(creds))
            self.assertEqual(status, 200, body)
            hdrs = {"X-WX-Code": creds["code"], "Content-Type": "application/json"}
            acked, stop = [], threading.Event()

            def saver(n):
                i = 0
                while not stop.is_set():
                    pid = f"w{n}-{i}"
                    i += 1
                    try:
                        status, _, out = server.request(
                            "POST", "/applet/session/paints/save", hdrs,
                            json.dumps({"id": pid, "actions": "[1]"}).encode(), timeout=5)
                    except OSError:
                        return
                    if status == 200 and out.decode() == OK_EMPTY:
                        acked.append(pid)

            threads = [threading.Thread(target=saver, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            # was: SIGKILL after 1.5 s, then "more than 50 acknowledged" (a rate); now after 50
            wait_until(lambda: len(acked) > 50, "the load saves")
            server.kill()  # SIGKILL mid-load
            stop.set()
            for t in threads:
                t.join()
            self.assertGreater(len(acked), 50, "the load did save")
            restarted = Server(dict(cfg, paints={"maxPageSize": 1000}), port=server.port)
            try:
                login = sim.login("durable")
                status, _, body = restarted.request("GET", "/applet/session",
                                                    login_headers(login))
                self.assertEqual(status, 200, body)
                items, cursor = [], None
                while True:
                    q = "limit=1000" + (f"&cursor={cursor}" if cursor else "")
                    status, _, out = restarted.request("GET", "/applet/session/paints/list?" + q,
                                                       {"X-WX-Code": login["code"]})
                    doc = json.loads(out)
                    self.assertEqual(doc["code"], 0, out)
                    items += [p["id"] for p in doc["data"]]
                    cursor = doc["next"]
                    if not cursor:
                        break
                missing = set(acked) - set(items)
                print(f"durability: {len(acked)} saves acknowledged before SIGKILL, "
                      f"{len(items)} present after restart, {len(missing)} missing",
                      file=sys.stderr)
                self.assertEqual(missing, set())
                self.assertEqual(restarted.stop(), 0)
            finally:
                restarted.cleanup()
        finally:
            server.cleanup()
            sim.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
