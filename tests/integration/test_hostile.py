"""test_hostile.py: hostile clients against the real wxsessiond (session and One Stroke routes):
10,000 idle connections, slowloris, bodies that never end, pipelined floods (read and unread),
oversized and malformed headers, bodies and rawData, invalid UTF-8, NUL bytes and request
smuggling. Each gets its status, the server keeps serving everyone else, and its memory (VmRSS
from /proc) stays under the bounds below and comes back near its baseline.

The HTTP layer's own cases (every parser error, exact limits) are in test_http.py against a
small echo server; here the point is the real server, its routes and its memory. Longer and
larger versions: scripts/soak.sh (WXS_HOSTILE_* variables).
"""
import json
import os
import re
import resource
import select
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import (VALGRIND, Server, Simulator, login_headers, open_fds, raise_nofile,
                     rss_kib, split_responses, stop_class_servers, wait_until)

MAGIC = "F2C224D4-2BCE-4C64-AF9F-A6D872000D1A"
IDLE_CONNECTIONS = int(os.environ.get("WXS_HOSTILE_IDLE", "10000"))
FLOOD_CONNECTIONS = int(os.environ.get("WXS_HOSTILE_FLOODERS", "20"))
SLOW_CONNECTIONS = int(os.environ.get("WXS_HOSTILE_SLOW", "300"))
# Memory bounds (KiB of VmRSS), documented in docs/security.md. Measured on the normal build:
# ~0.8 KiB per idle connection, ~0.5 MiB per flooding connection that does not read.
IDLE_KIB_PER_CONN = 2
FLOOD_KIB_PER_CONN = 2048  # input bound (headers + body limit) + queued answers (256 KiB)
NEAR_BASELINE_KIB = 8 * 1024
# Seconds a client waits for an answer that should come: a hang guard far above the normal case
# (milliseconds), not a timing assertion.
HANG_GUARD = 30.0 * (5 if VALGRIND else 1)


# So that VmRSS tells live memory: ASan keeps at most 16 MiB of freed memory in quarantine, and
# glibc serves buffers of 64 KiB and more with mmap (a fixed threshold: no dynamic raise), so
# freeing them gives the memory back to the system.
MEASURABLE_MEMORY = {
    "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16",
    "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536",
}


def report(what, **figures):
    print(f"[hostile] {what}: " + ", ".join(f"{k}={v}" for k, v in figures.items()),
          file=sys.stderr, flush=True)


def sanitized(pid):
    """True when the process runs an AddressSanitizer build (its allocator keeps freed memory in
    a quarantine, so RSS does not come back down) or under valgrind."""
    if VALGRIND:
        return True
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def read_until_close(sock, timeout):
    """Everything the server sends until it closes (or timeout: returns what came)."""
    sock.settimeout(timeout)
    chunks = []
    try:
        while True:
            c = sock.recv(65536)
            if not c:
                break
            chunks.append(c)
    except (socket.timeout, ConnectionResetError):
        pass
    return b"".join(chunks)


def take_responses(buf):
    """Complete responses (with Content-Length) at the front of buf -> ([(status, body)], rest)."""
    out, at = [], 0
    while True:
        end = buf.find(b"\r\n\r\n", at)
        if end < 0:
            break
        length = 0
        for line in buf[at:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if len(buf) < end + 4 + length:
            break
        out.append((int(buf[at + 9:at + 12]), buf[end + 4:end + 4 + length]))
        at = end + 4 + length
    return out, buf[at:]


def error_code(data):
    """The "error.code" of a JSON error answer in raw response bytes."""
    body = data.partition(b"\r\n\r\n")[2]
    return json.loads(body)["error"]["code"]


class Hostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.nofile = raise_nofile(IDLE_CONNECTIONS + 1000)
        cls.tmp = tempfile.mkdtemp(prefix="wxs-hostile-")
        cls.sim = Simulator()
        cls.server = Server({"sqlite": {"path": os.path.join(cls.tmp, "s.db")},
                             "wechat": {"apiBase": cls.sim.base},
                             "timeouts": {"headerMs": 1000, "bodyMs": 2000}},
                            env=MEASURABLE_MEMORY)
        creds = cls.sim.login("victim")
        status, _, body = cls.server.request("GET", "/applet/session", login_headers(creds))
        assert status == 200, body
        cls.creds = creds
        cls.code = creds["code"]
        cls.pid = cls.server.proc.pid
        cls.sanitized = sanitized(cls.pid)
        lowered = re.search(r"limits.connections: (\d+) per worker", cls.server.output())
        cls.capacity = 2 * (int(lowered.group(1)) if lowered else 10000)  # 2 workers

    @classmethod
    def tearDownClass(cls):
        stop_class_servers(cls.server, cls.sim, cls.tmp)

    # ---- helpers
    def assert_serves(self):
        """A normal code-only request is answered correctly. Returns how long it took, for the
        printed figures only: no test asserts a duration (a shared 2-core machine under ctest -j2
        makes any time limit flaky). The socket timeout is a hang guard, not a timing assertion."""
        t0 = time.monotonic()
        status, _, body = self.server.request("GET", "/applet/session", {"X-WX-Code": self.code},
                                              timeout=HANG_GUARD)
        elapsed = time.monotonic() - t0
        self.assertEqual(status, 200, body)
        self.assertIn(self.creds["openid"].encode(), body)
        return elapsed

    def baseline(self):
        for _ in range(50):
            self.server.request("GET", "/healthz")
        return rss_kib(self.pid)

    def wait_fds(self, pred, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = open_fds(self.pid)
            if pred(n):
                return n
            time.sleep(0.05)
        return open_fds(self.pid)

    def assert_near_baseline(self, base, what):
        time.sleep(0.3)
        after = rss_kib(self.pid)
        if not self.sanitized:
            self.assertLess(after - base, NEAR_BASELINE_KIB, f"{what}: RSS back near baseline")
        return after

    def connect_many(self, n):
        socks = []
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", self.server.port))
            socks.append(s)
        return socks

    # ---- connections
    def test_10000_idle_connections(self):
        n = min(IDLE_CONNECTIONS, self.nofile - 500, self.capacity * 8 // 10)
        if n < 1000:
            self.skipTest(f"RLIMIT_NOFILE too low here ({self.nofile}) for 1,000 connections")
        base = self.baseline()
        fds0 = open_fds(self.pid)
        t0 = time.monotonic()
        socks = self.connect_many(n)
        try:
            fds = self.wait_fds(lambda k: k >= fds0 + n - 5)
            accepted = time.monotonic() - t0
            # (a few descriptors of earlier requests may close meanwhile)
            self.assertGreaterEqual(fds, fds0 + n - 5, "every connection accepted")
            peak = rss_kib(self.pid)
            latency = self.assert_serves()
        finally:
            for s in socks:
                s.close()
        self.wait_fds(lambda k: k <= fds0 + 2)
        closed = time.monotonic() - t0
        after = self.assert_near_baseline(base, "idle connections")
        per_conn = (peak - base) * 1024 / n
        report("idle connections", connections=n, accept_s=round(accepted, 2),
               rss_base_kib=base, rss_peak_kib=peak, bytes_per_conn=round(per_conn),
               rss_after_kib=after, closed_s=round(closed, 2),
               request_meanwhile_ms=round(latency * 1000, 1))
        bound = IDLE_KIB_PER_CONN * (3 if self.sanitized else 1)
        self.assertLess(peak - base, bound * n, f"at most {bound} KiB per idle connection")

    def test_slowloris_headers_trickled(self):
        """Header bytes dribbled one every 100 ms (a header that never ends): each client gets
        408 ERR_HEADER_TIMEOUT while it is still sending (the timer runs from the first byte and
        further bytes do not restart it) and its connection is closed; a normal client is served
        while they wait. When the 408 comes is not asserted (a duration): that it comes before
        the client has sent its whole header (~30 s of dribbling) is."""
        base = self.baseline()
        n = SLOW_CONNECTIONS
        line = (b"GET /applet/session HTTP/1.1\r\nHost: x\r\nX-WX-Code: " + self.code.encode() +
                b"\r\nX-Slow: " + b"z" * 200)
        socks = [socket.create_connection(("127.0.0.1", self.server.port)) for _ in range(n)]
        first = [None] * n
        answered = [None] * n
        sent = [0] * n  # header bytes sent before the answer
        data = [b""] * n
        latencies = []
        t0 = time.monotonic()
        try:
            i, next_byte = 0, t0
            # HANG_GUARD beyond the whole line: a hang guard, not a timing assertion
            while None in answered and time.monotonic() - t0 < len(line) * 0.1 + HANG_GUARD:
                if time.monotonic() >= next_byte:  # one byte each, at most every 100 ms
                    for k, s in enumerate(socks):
                        if answered[k] is None and i < len(line):
                            try:
                                s.send(line[i:i + 1])
                                sent[k] += 1
                            except OSError:
                                pass
                            if first[k] is None:
                                first[k] = time.monotonic()
                    i += 1
                    next_byte = time.monotonic() + 0.1
                    if i % 3 == 0:
                        latencies.append(self.assert_serves())  # while trickling clients wait
                ready, _, _ = select.select([s for k, s in enumerate(socks)
                                             if answered[k] is None], [], [],
                                            max(0.0, next_byte - time.monotonic()))
                for s in ready:
                    k = socks.index(s)
                    data[k] += read_until_close(s, HANG_GUARD)
                    answered[k] = time.monotonic()
            peak = rss_kib(self.pid)
        finally:
            for s in socks:
                s.close()
        waits = [a - f for a, f in zip(answered, first) if a is not None]
        report("slowloris", connections=n, answered=len(waits),
               min_s=round(min(waits, default=0), 2), max_s=round(max(waits, default=0), 2),
               bytes_sent_max=max(sent), rss_growth_kib=peak - base,
               served_meanwhile=len(latencies),
               worst_latency_ms=round(max(latencies, default=0) * 1000, 1))
        self.assertEqual(len(waits), n, "every trickling client got its answer")
        for d in data:
            self.assertTrue(d.startswith(b"HTTP/1.1 408 "), d[:100])
            self.assertEqual(error_code(d), "ERR_HEADER_TIMEOUT")
        # was: each answer between 0.9 s and 3 s after the first byte (a duration). Now: each
        # answer came while the client was still dribbling (bytes do not restart the timer), and
        # normal requests were answered while the trickling clients waited.
        self.assertLess(max(sent), len(line), "answered before the header was all sent")
        self.assertGreater(len(latencies), 0, "a normal client was served meanwhile")
        self.assert_near_baseline(base, "slowloris")

    def test_bodies_that_never_end(self):
        """POSTs announcing a 1 MiB body (the limit) that send 64 KiB and stall: the others are
        served, memory stays bounded, each ends with 408 ERR_BODY_TIMEOUT (timeouts.bodyMs, 2 s
        here; when it comes is not asserted, a duration) and its buffer is freed."""
        base = self.baseline()
        n = 100
        head = (b"POST /applet/session/paints/save HTTP/1.1\r\nHost: x\r\nX-WX-Code: " +
                self.code.encode() + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1048576\r\n\r\n{\"id\":\"never\",\"actions\":\"" + b"x" * 65536)
        socks = []
        try:
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", self.server.port))
                s.sendall(head)
                socks.append(s)
            started = time.monotonic()
            time.sleep(0.5)
            peak = rss_kib(self.pid)
            latency = self.assert_serves()
            self.assertLess(peak - base, n * 256 * (3 if self.sanitized else 1),
                            "at most 256 KiB per stalled 64 KiB body")
            answers = []
            for s in socks:
                answers.append(read_until_close(s, HANG_GUARD))
            ended = time.monotonic() - started  # a printed figure, not asserted
        finally:
            for s in socks:
                s.close()
        report("bodies that never end", connections=n, rss_growth_kib=peak - base,
               request_meanwhile_ms=round(latency * 1000, 1), all_answered_s=round(ended, 1))
        for d in answers:
            self.assertTrue(d.startswith(b"HTTP/1.1 408 "), d[:100])
            self.assertEqual(error_code(d), "ERR_BODY_TIMEOUT")
        status, _, body = self.server.request("GET", "/applet/session/paints/list",
                                              {"X-WX-Code": self.code})
        self.assertNotIn(b'"never"', body, "nothing saved from a body that never ended")
        self.assert_near_baseline(base, "stalled bodies")

    def test_pipelined_flood_read(self):
        """Clients pipelining thousands of requests each (and reading): every answer arrives,
        in order, and a normal client is served meanwhile: while the flooding connections still
        wait for answers, not after them (was: each normal request within 2 s, a duration)."""
        per = 2000
        req = (f"GET /applet/session HTTP/1.1\r\nHost: x\r\nX-WX-Code: {self.code}\r\n\r\n"
               f"GET /applet/session HTTP/1.1\r\nHost: x\r\nX-WX-Code: nope\r\n\r\n").encode()
        results = {}
        progress = [0] * FLOOD_CONNECTIONS  # answers each flooding connection has read so far

        def flood(k):
            # the socket timeout is a hang guard, not a timing assertion
            with socket.create_connection(("127.0.0.1", self.server.port),
                                          timeout=HANG_GUARD) as s:
                sender = threading.Thread(target=s.sendall, args=(req * (per // 2),))
                sender.start()
                buf, got = b"", []
                while len(got) < per:
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    more, buf = take_responses(buf + chunk)
                    got += more
                    progress[k] = len(got)
                sender.join()
                results[k] = got

        threads = [threading.Thread(target=flood, args=(k,)) for k in range(FLOOD_CONNECTIONS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        latencies = []
        served_meanwhile = 0  # normal answers read while flood answers were still outstanding
        while any(t.is_alive() for t in threads):
            latencies.append(self.assert_serves())
            if sum(progress) < per * FLOOD_CONNECTIONS:
                served_meanwhile += 1
            time.sleep(0.05)
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        total = sum(len(v) for v in results.values())
        report("pipelined flood (reading)", connections=FLOOD_CONNECTIONS, requests=total,
               seconds=round(elapsed, 2), req_per_s=round(total / elapsed),
               served_meanwhile=served_meanwhile,
               worst_latency_meanwhile_ms=round(max(latencies, default=0) * 1000, 1))
        for k in range(FLOOD_CONNECTIONS):
            got = results.get(k, [])
            self.assertEqual(len(got), per, f"connection {k}: every answer")
            self.assertTrue(all(st == 200 for st, _ in got))
            self.assertTrue(all(self.creds["openid"].encode() in b for _, b in got[0::2]),
                            "answers in request order")
            self.assertTrue(all(b'"ERR_SESSION_EXPIRED"' in b for _, b in got[1::2]))
        self.assertGreater(served_meanwhile, 0, "a normal client was served during the flood")

    @unittest.skipUnless(os.environ.get("WXS_SOAK"),
                         "timing-dependent on a loaded 2-core machine (it failed once in CI-like "
                         "runs): runs in scripts/soak.sh (WXS_SOAK=1)")
    def test_pipelined_flood_unread(self):
        """Clients pipelining as fast as they can and never reading: the server stops reading
        them (bounded input, bounded queued answers) instead of buffering without end."""
        base = self.baseline()
        req = f"GET /applet/session HTTP/1.1\r\nHost: x\r\nX-WX-Code: {self.code}\r\n\r\n"
        block = req.encode() * 100
        socks = []
        sent = []

        def flood(s):
            n = 0
            s.settimeout(2.0)
            try:
                while n < 2_000_000:  # until the send blocks for 2 s (the server stopped)
                    s.sendall(block)
                    n += 100
            except OSError:
                pass
            sent.append(n)

        threads = []
        for _ in range(FLOOD_CONNECTIONS):
            s = socket.create_connection(("127.0.0.1", self.server.port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            socks.append(s)
            threads.append(threading.Thread(target=flood, args=(s,)))
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            peak = rss_kib(self.pid)
            latency = self.assert_serves()
        finally:
            for s in socks:
                s.close()
        self.wait_fds(lambda k: k < 60)
        after = self.assert_near_baseline(base, "unread flood")
        report("pipelined flood (not reading)", connections=FLOOD_CONNECTIONS,
               requests_sent=sum(sent), rss_base_kib=base, rss_peak_kib=peak,
               kib_per_conn=round((peak - base) / FLOOD_CONNECTIONS), rss_after_kib=after,
               request_meanwhile_ms=round(latency * 1000, 1))
        self.assertTrue(all(n < 2_000_000 for n in sent), "the server stopped reading")
        bound = FLOOD_KIB_PER_CONN * (3 if self.sanitized else 1)
        self.assertLess(peak - base, bound * FLOOD_CONNECTIONS,
                        f"at most {bound} KiB per flooding connection")

    # ---- bad input on the real routes
    def raw(self, data, timeout=5):
        with socket.create_connection(("127.0.0.1", self.server.port)) as s:
            s.sendall(data)
            return read_until_close(s, timeout)

    def test_oversized_and_malformed_input(self):
        """Each request: its exact status and error code (or protocol body); 4xx answers close
        the connection; no WeChat exchange is spent on input refused before it."""
        creds = self.sim.login("mallory")
        code = creds["code"].encode()
        good_raw = login_headers(creds)["X-WX-RawData"].encode()

        def get(headers):
            return b"GET /applet/session HTTP/1.1\r\nHost: x\r\n" + headers + \
                b"Connection: close\r\n\r\n"

        def login(raw):
            return get(b"X-WX-Code: " + code + b"\r\nX-WX-RawData: " + raw +
                       b"\r\nX-WX-Signature: " + creds["signature"].encode() + b"\r\n")

        def save(body, extra=b""):
            return (b"POST /applet/session/paints/save HTTP/1.1\r\nHost: x\r\nX-WX-Code: " +
                    self.code.encode() + b"\r\nContent-Type: application/json\r\n" + extra +
                    b"Content-Length: " + str(len(body)).encode() +
                    b"\r\nConnection: close\r\n\r\n" + body)

        uri_error = ('{"%s":1,"error":{"name":"URIError","message":"URI malformed"}}'
                     % MAGIC).encode()
        nested = urllib.parse.quote('{"a":' + "[" * 1000 + "]" * 1000 + "}").encode()
        cases = [
            # (name, request bytes, status, error code / exact body / body substring)
            ("header block over 16 KiB", get(b"X-Big: " + b"a" * 20000 + b"\r\n"),
             431, "ERR_HEADER_TOO_LARGE"),
            ("header block over 80 KiB", get(b"X-Big: " + b"a" * 90000 + b"\r\n"),
             431, "ERR_HEADER_TOO_LARGE"),
            ("rawData over 8 KiB decoded",
             login(urllib.parse.quote(json.dumps({"nickName": "x" * 9000})).encode()),
             431, "ERR_RAW_DATA_TOO_LARGE"),
            ("X-WX-Code over 256 bytes", get(b"X-WX-Code: " + b"c" * 300 + b"\r\n"),
             400, "ERR_CODE_TOO_LONG"),
            ("body announced over 1 MiB",
             b"POST /applet/session/paints/save HTTP/1.1\r\nHost: x\r\nContent-Length: "
             b"2097152\r\n\r\n", 413, "ERR_BODY_TOO_LARGE"),
            ("chunked body over 1 MiB",
             b"POST /applet/session/paints/save HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
             b"chunked\r\n\r\n" + (b"10000\r\n" + b"x" * 65536 + b"\r\n") * 17 + b"0\r\n\r\n",
             413, "ERR_BODY_TOO_LARGE"),
            ("rawData: raw 0xFF byte", login(b"%7B%22a%22%3A%22\xff%22%7D"), 200, uri_error),
            ("rawData: %FF", login(b"%7B%22a%22%3A%22%FF%22%7D"), 200, uri_error),
            ("rawData: overlong %C0%AF", login(b"%7B%22a%22%3A%22%C0%AF%22%7D"), 200, uri_error),
            ("rawData: surrogate %ED%A0%80", login(b"%7B%22a%22%3A%22%ED%A0%80%22%7D"), 200,
             uri_error),
            ("rawData: truncated %E5%BE", login(b"%7B%22a%22%3A%22%E5%BE%22%7D"), 200, uri_error),
            ("rawData: bad escape %G1", login(b"%7B%22a%22%3A%22%G1%22%7D"), 200, uri_error),
            ("rawData: encoded NUL in a JSON string", login(b"%7B%22a%22%3A%22%00%22%7D"), 200,
             b'"name":"SyntaxError"'),
            ("rawData: nesting 1000 deep", login(nested), 200, b'"name":"SyntaxError"'),
            ("NUL byte in X-WX-Code", get(b"X-WX-Code: ab\x00cd\r\n"), 400, "ERR_BAD_REQUEST"),
            ("NUL byte first in X-WX-Code", get(b"X-WX-Code:\x00abc\r\n"), 400,
             "ERR_BAD_REQUEST"),
            ("NUL byte in rawData", login(good_raw[:10] + b"\x00" + good_raw[10:]), 400,
             "ERR_BAD_REQUEST"),
            ("NUL byte in the path", b"GET /applet/sess\x00ion HTTP/1.1\r\nHost: x\r\n\r\n", 400,
             "ERR_BAD_REQUEST"),
            ("NUL byte in a JSON body", save(b'{"id":"a\x00b","actions":"[]"}'), 200,
             b'"ERR_BAD_BODY"'),
            ("escaped NUL in a paint id", save(b'{"id":"a\\u0000b","actions":"[]"}'), 200,
             b'"ERR_BAD_BODY"'),
            ("invalid UTF-8 in a JSON body", save(b'{"id":"ab","actions":"[\\"\xff\\"]"}'), 200,
             b'"ERR_BAD_BODY"'),
            ("invalid UTF-8 in a form body",
             save(b"id=ab&actions=%5B%22%FF%22%5D", b"Content-Type: application/x-www-form-"
                  b"urlencoded\r\n"), 200, b'"code":-1'),
        ]
        exchanges = self.sim.stats()["exchanges"]
        for name, data, status, expect in cases:
            with self.subTest(name):
                out = self.raw(data)
                self.assertTrue(out.startswith(b"HTTP/1.1 %d " % status), out[:200])
                if isinstance(expect, str):
                    self.assertEqual(error_code(out), expect)
                    self.assertIn(b"\r\nConnection: close\r\n",
                                  out.partition(b"\r\n\r\n")[0] + b"\r\n")
                elif expect.startswith(b"{"):
                    self.assertEqual(out.partition(b"\r\n\r\n")[2], expect)
                else:
                    self.assertIn(expect, out.partition(b"\r\n\r\n")[2])
        self.assertEqual(self.sim.stats()["exchanges"], exchanges,
                         "no code was spent on refused input")
        self.assert_serves()
        status, _, body = self.server.request("GET", "/applet/session", login_headers(creds))
        self.assertEqual(status, 200, body)  # mallory's code is still good

    def test_request_smuggling_attempts(self):
        """Ambiguous framing is refused with 400 and the connection closed, so a request hidden
        in a body (here: a save as the victim) never runs."""
        hidden = (b"POST /applet/session/paints/save HTTP/1.1\r\nHost: x\r\nX-WX-Code: " +
                  self.code.encode() + b"\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 39\r\n\r\n{\"id\":\"smuggled\",\"actions\":\"[1,2,3]\"}")
        chunked_hidden = b"0\r\n\r\n" + hidden
        h = b"POST /applet/session/paints/list HTTP/1.1\r\nHost: x\r\n"
        cases = [
            ("CL then TE", h + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n"
             % len(chunked_hidden) + chunked_hidden),
            ("TE then CL", h + b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n"
             % len(chunked_hidden) + chunked_hidden),
            ("two Content-Lengths", h + b"Content-Length: 0\r\nContent-Length: %d\r\n\r\n"
             % len(hidden) + hidden),
            ("Content-Length list", h + b"Content-Length: 0, %d\r\n\r\n" % len(hidden) + hidden),
            ("TE chunked, identity", h + b"Transfer-Encoding: chunked, identity\r\n\r\n" +
             chunked_hidden),
            ("TE not chunked", h + b"Transfer-Encoding: xchunked\r\n\r\n" + chunked_hidden),
            ("space before colon", h + b"Content-Length : %d\r\n\r\n" % len(hidden) + hidden),
            ("negative Content-Length", h + b"Content-Length: -1\r\n\r\n" + hidden),
            ("chunk size overflow", h + b"Transfer-Encoding: chunked\r\n\r\n"
             b"fffffffffffffffffff\r\n" + hidden),
        ]
        for name, data in cases:
            with self.subTest(name):
                out = self.raw(data)
                responses = split_responses(out)
                self.assertEqual(len(responses), 1, out[:300])
                self.assertEqual(responses[0][0], 400, out[:300])
                self.assertEqual(json.loads(responses[0][1])["error"]["code"], "ERR_BAD_REQUEST")
        status, _, body = self.server.request("GET", "/applet/session/paints/list",
                                              {"X-WX-Code": self.code})
        self.assertEqual(json.loads(body)["code"], 0, body)
        self.assertNotIn(b"smuggled", body, "no hidden request ran")
        self.assert_serves()


class ConnectionLimits(unittest.TestCase):
    """limits.connections on the real server, and wxsessiond fitting it to RLIMIT_NOFILE."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="wxs-limits-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.sim = Simulator()
        self.addCleanup(self.sim.cleanup)

    def start(self, limits, preexec_fn=None):
        server = Server({"sqlite": {"path": os.path.join(self.tmp, "s.db")}, "workers": 1,
                         "wechat": {"apiBase": self.sim.base}, "limits": limits},
                        preexec_fn=preexec_fn)
        self.addCleanup(server.cleanup)
        return server

    def over_limit(self, server, n):
        """Hold n idle connections; returns the answer the next one gets."""
        held = []
        try:
            for _ in range(n):
                held.append(socket.create_connection(("127.0.0.1", server.port)))
            last, deadline = -1, time.monotonic() + 10
            while open_fds(server.proc.pid) != last and time.monotonic() < deadline:
                last = open_fds(server.proc.pid)  # until the server has taken them all
                time.sleep(0.2)
            with socket.create_connection(("127.0.0.1", server.port)) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                return read_until_close(extra, 5)
        finally:
            for s in held:
                s.close()

    def test_over_the_connection_limit_503(self):
        server = self.start({"connections": 100})
        out = self.over_limit(server, 100)
        self.assertTrue(out.startswith(b"HTTP/1.1 503 "), out[:200])
        self.assertEqual(error_code(out), "ERR_TOO_MANY_CONNECTIONS")
        wait_until(lambda: server.request("GET", "/healthz")[0] == 200,
                   "slots free again after the held connections closed")  # a hang guard
        self.assertEqual(server.stop(), 0)

    def test_connections_fitted_to_the_open_file_limit(self):
        """With RLIMIT_NOFILE at 600 (soft and hard) and limits.connections 10,000, wxsessiond
        lowers the limit so that clients past it get 503 rather than an EMFILE stall."""
        def few_files():
            resource.setrlimit(resource.RLIMIT_NOFILE, (600, 600))

        server = self.start({"connections": 10000}, preexec_fn=few_files)
        found = re.search(r"limits.connections: (\d+) per worker \(of 10000\)", server.output())
        self.assertIsNotNone(found, server.output())
        limit = int(found.group(1))
        self.assertLess(limit, 600 - 64)
        out = self.over_limit(server, limit + 20)
        self.assertTrue(out.startswith(b"HTTP/1.1 503 "), out[:200])
        self.assertEqual(error_code(out), "ERR_TOO_MANY_CONNECTIONS")
        self.assertEqual(server.stop(), 0)


class ListAnswersBounded(unittest.TestCase):
    """A logged-in user with 64 drawings of 512 KiB of backslashes (the most escaping JSON text
    can need: the answer is twice the raw bytes) lists them with limit=100 on 8 connections whose
    4 KiB receive buffers never get read. Each answer is one page of at most paints.maxPageBytes,
    so what the server holds for them is bounded by the page budget times the connections, not
    by the drawings (before pages had a byte budget: ~67 MiB per answer, over 500 MiB here), and
    /healthz is answered throughout."""

    PAGE_BYTES = 2 * 1024 * 1024
    CONNECTIONS = 8
    DRAWINGS = 64
    RAW = 512 * 1024

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="wxs-bigpages-")
        cls.sim = Simulator()
        cls.server = Server({"sqlite": {"path": os.path.join(cls.tmp, "s.db")},
                             "wechat": {"apiBase": cls.sim.base},
                             "limits": {"bodyBytes": 2 * 1024 * 1024},
                             "paints": {"maxPageBytes": cls.PAGE_BYTES}},
                            env=MEASURABLE_MEMORY)
        creds = cls.sim.login("hoarder")
        status, _, body = cls.server.request("GET", "/applet/session", login_headers(creds))
        assert status == 200, body
        cls.code = creds["code"]
        actions = '["' + "\\" * (cls.RAW - 4) + '"]'
        for i in range(cls.DRAWINGS):
            status, _, out = cls.server.request(
                "POST", "/applet/session/paints/save",
                {"X-WX-Code": cls.code, "Content-Type": "application/json"},
                json.dumps({"id": f"big{i:02d}", "actions": actions}).encode(), timeout=HANG_GUARD)
            assert status == 200 and b'"code":0' in out, out

    @classmethod
    def tearDownClass(cls):
        stop_class_servers(cls.server, cls.sim, cls.tmp)

    def test_unread_list_answers_stay_within_the_page_budget(self):
        pid = self.server.proc.pid
        for _ in range(20):
            self.server.request("GET", "/healthz")
        base = rss_kib(pid)
        req = (f"GET /applet/session/paints/list?limit=100 HTTP/1.1\r\nHost: x\r\n"
               f"X-WX-Code: {self.code}\r\n\r\n").encode()
        socks = []
        try:
            for _ in range(self.CONNECTIONS):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(("127.0.0.1", self.server.port))
                s.sendall(req)
                socks.append(s)
            peak, healthz = base, 0

            def answered(s):
                # the answer's first bytes are waiting in our receive buffer: the server built
                # it and queued the rest
                return len(s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)) == 1

            def all_answered():
                nonlocal peak, healthz
                peak = max(peak, rss_kib(pid))
                status, _, _ = self.server.request("GET", "/healthz", timeout=HANG_GUARD)
                self.assertEqual(status, 200, "/healthz answers while the answers wait")
                healthz += 1
                try:
                    return all(answered(s) for s in socks)
                except BlockingIOError:
                    return False

            wait_until(all_answered, "every list answered")  # a hang guard
            for _ in range(10):  # and after: the answers are held now
                all_answered()
            head = socks[0].recv(4096, socket.MSG_PEEK).split(b"\r\n\r\n")[0].decode()
            length = int(re.search(r"Content-Length: (\d+)", head).group(1))
        finally:
            for s in socks:
                s.close()
        sanitized_build = sanitized(pid)
        # what may be held: every connection's answer (at most one page), and on each of the 2
        # workers one page being built plus its queued copy; 16 MiB for SQLite's caches and
        # the allocator (ASan: its quarantine and shadow memory, 3 times that)
        bound_kib = ((self.CONNECTIONS + 2 * 2) * self.PAGE_BYTES // 1024 +
                     16 * 1024) * (3 if sanitized_build else 1)
        report("unread list answers", connections=self.CONNECTIONS, answer_bytes=length,
               rss_base_kib=base, rss_peak_kib=peak, bound_kib=bound_kib, healthz=healthz)
        self.assertLessEqual(length, self.PAGE_BYTES, "one page within paints.maxPageBytes")
        self.assertGreater(length, self.PAGE_BYTES // 2, "pages are cut by bytes, not emptied")
        self.assertLess(peak - base, bound_kib, "RSS growth within the page budget bound")


if __name__ == "__main__":
    unittest.main()
