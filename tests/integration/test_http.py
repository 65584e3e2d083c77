"""test_http.py: the HTTP/1.1 layer (src/server/http.c, http_parse.c) through tests/support/http_echo.

Each test starts its own http_echo on a free loopback port with the limits it needs, talks raw
HTTP over sockets, asserts exact statuses, checks that the server still serves a request
afterwards, and stops the server with SIGTERM (it must exit 0: under ASan, leak-free).
Run: WXS_BUILD_DIR=/path/to/build python3 -m unittest -v test_http
"""
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest

import harness

BUILD_DIR = os.environ.get("WXS_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
ECHO = os.path.join(BUILD_DIR, "tests", "http_echo")
HOST = "127.0.0.1"
# Seconds to wait for something that should come (an answer, a close): a hang guard far above the
# normal case (milliseconds), not a timing assertion. No test here asserts a duration.
HANG_GUARD = 30.0
IO_TIMEOUT = HANG_GUARD


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class Conn:
    """One client connection with a read buffer, so pipelined responses can be split."""

    def __init__(self, port, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by the server")
        self.buf += chunk

    def read_response(self, head_request=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        version, status, _reason = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = 0 if head_request else int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return Response(int(status), headers, body)

    def request(self, method="GET", target="/", headers=None, body=b""):
        self.send(build_request(method, target, headers, body))
        return self.read_response(head_request=(method == "HEAD"))

    def at_eof(self, timeout=IO_TIMEOUT):
        """True when the server closes the connection (FIN or reset) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def build_request(method="GET", target="/", headers=None, body=b"", version="HTTP/1.1"):
    lines = [f"{method} {target} {version}", "Host: test"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k in (headers or {})):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class HttpServerTest(unittest.TestCase):
    def start(self, *args):
        """Start http_echo with the given extra flags; returns its port."""
        port = free_port()
        cmd = [ECHO, "--port", str(port)] + [str(a) for a in args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(self.stop, proc)
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        line = proc.stdout.readline().decode() if ready else ""
        self.assertEqual(line.strip(), f"listening on {HOST}:{port}", "http_echo did not start")
        self.proc = proc
        self.port = port
        return port

    def stop(self, proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            self.fail("http_echo did not exit on SIGTERM")
        self.assertEqual(proc.returncode, 0, "http_echo exit status; stderr:\n" + err.decode(errors="replace"))
        self.assertNotIn(b"Sanitizer", err, err.decode(errors="replace"))

    def connect(self, timeout=IO_TIMEOUT):
        c = Conn(self.port, timeout)
        self.addCleanup(c.close)
        return c

    def assert_serves(self):
        """The server still answers a fresh request."""
        r = self.connect().request("GET", "/after?ok=1")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["query"], "ok=1")

    def assert_error(self, conn, status, code):
        r = conn.read_response()
        self.assertEqual(r.status, status)
        self.assertEqual(r.headers["connection"], "close")
        self.assertEqual(r.headers["content-type"], "application/json; charset=utf-8")
        self.assertEqual(r.json()["error"]["code"], code)
        self.assertTrue(conn.at_eof(), "connection not closed after an error")

    def send_raw_expect(self, data, status, code):
        c = self.connect()
        c.send(data)
        self.assert_error(c, status, code)
        self.assert_serves()

    # ---- normal requests

    def test_keep_alive_two_requests(self):
        self.start()
        c = self.connect()
        r1 = c.request("GET", "/one?a=1", {"X-Test": "  hello  "})
        r2 = c.request("GET", "/two")
        self.assertEqual((r1.status, r2.status), (200, 200))
        self.assertEqual(r1.headers["connection"], "keep-alive")
        self.assertIn("date", r1.headers)
        j1, j2 = r1.json(), r2.json()
        self.assertEqual((j1["path"], j1["query"], j1["headers"]["x-test"]), ("/one", "a=1", "hello"))
        self.assertEqual((j2["path"], j2["query"]), ("/two", None))
        self.assert_serves()

    def test_http10_closes_unless_keep_alive(self):
        self.start()
        c = self.connect()
        c.send(build_request(version="HTTP/1.0"))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["connection"], "close")
        self.assertTrue(c.at_eof())
        c = self.connect()
        c.send(build_request(headers={"Connection": "keep-alive"}, version="HTTP/1.0"))
        self.assertEqual(c.read_response().headers["connection"], "keep-alive")
        self.assertEqual(c.request().status, 200)
        self.assert_serves()

    def test_pipelining_keeps_order_across_async_answers(self):
        self.start()
        c = self.connect()
        reqs = []
        for i in range(50):
            if i % 3 == 0:
                reqs.append(build_request("GET", f"/delay?ms={(i * 7) % 40}"))
            else:
                reqs.append(build_request("GET", f"/now?i={i}"))
        c.send(b"".join(reqs))
        for i in range(50):
            r = c.read_response()
            self.assertEqual(r.status, 200)
            j = r.json()
            if i % 3 == 0:
                self.assertEqual((j["path"], j["query"]), ("/delay", f"ms={(i * 7) % 40}"))
            else:
                self.assertEqual((j["path"], j["query"]), ("/now", f"i={i}"))
        self.assertEqual(c.request().status, 200)
        self.assert_serves()

    def test_post_with_content_length(self):
        self.start()
        r = self.connect().request("POST", "/p", body=b'{"a":"\xe4\xb8\xad"}')
        self.assertEqual(r.status, 200)
        j = r.json()
        self.assertEqual((j["method"], j["bodyLength"], j["body"]), ("POST", 11, '{"a":"中"}'))
        self.assert_serves()

    def test_chunked_body(self):
        self.start()
        c = self.connect()
        c.send(b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual((r.json()["bodyLength"], r.json()["body"]), (11, "hello world"))
        self.assertEqual(c.request().status, 200)
        self.assert_serves()

    def test_request_dribbled_byte_by_byte(self):
        self.start()
        c = self.connect()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = build_request("POST", "/split?q=1", {"X-Test": "piece by piece"}, b"body!")
        for i in range(len(data)):
            c.send(data[i:i + 1])
            time.sleep(0.001)
        j = c.read_response().json()
        self.assertEqual((j["path"], j["query"], j["headers"]["x-test"], j["body"]),
                         ("/split", "q=1", "piece by piece", "body!"))
        self.assert_serves()

    def test_large_responses_in_order(self):
        self.start()
        c = self.connect()
        n = 8 << 20
        c.send(build_request("GET", f"/big?n={n}") + build_request("GET", "/big?n=10") + build_request())
        time.sleep(0.3)  # let the server hit a full socket buffer and queue the rest
        r = c.read_response()
        self.assertEqual((r.status, len(r.body), r.headers["content-type"]), (200, n, "text/plain"))
        self.assertEqual(r.body[:28], b"abcdefghijklmnopqrstuvwxyzab")
        self.assertEqual(c.read_response().body, b"abcdefghij")
        self.assertEqual(c.read_response().json()["path"], "/")
        # a client that leaves in the middle of a big answer
        c = self.connect()
        c.send(build_request("GET", f"/big?n={n}"))
        c.sock.recv(1000)
        c.close()
        self.assert_serves()

    def test_pipelined_backlog_beyond_the_input_bound(self):
        # header 1024 + body 1024: reading stops while the backlog waits, then resumes
        self.start("--header-bytes", 1024, "--body-bytes", 1024)
        c = self.connect()
        reqs = [build_request("GET", "/delay?ms=200")]
        reqs += [build_request("POST", f"/p?i={i}", body=b"b" * 100) for i in range(200)]
        c.send(b"".join(reqs))
        self.assertEqual(c.read_response().json()["path"], "/delay")
        for i in range(200):
            j = c.read_response().json()
            self.assertEqual((j["query"], j["bodyLength"]), (f"i={i}", 100))
        self.assert_serves()

    def test_head_and_no_content(self):
        self.start()
        c = self.connect()
        r = c.request("HEAD", "/h")
        self.assertEqual(r.status, 200)
        self.assertGreater(int(r.headers["content-length"]), 0)
        r = c.request("GET", "/nocontent")  # must not wait for a body after HEAD's headers
        self.assertEqual(r.status, 204)
        self.assertNotIn("content-length", r.headers)
        self.assertEqual(c.request().status, 200)
        r = c.request("GET", "/notmodified")  # a 304 ends with its headers: no body bytes
        self.assertEqual((r.status, r.body), (304, b""))
        self.assertNotIn("content-length", r.headers)
        self.assertEqual(c.request().status, 200)  # the next answer is not mixed with a body
        self.assert_serves()

    def test_expect_100_continue(self):
        self.start()
        c = self.connect()
        c.send(b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        interim = c.sock.recv(100)
        self.assertEqual(interim, b"HTTP/1.1 100 Continue\r\n\r\n")
        c.send(b"abc")
        r = c.read_response()
        self.assertEqual((r.status, r.json()["body"]), (200, "abc"))
        self.assert_serves()

    # ---- limits

    def test_header_block_over_limit_431(self):
        self.start("--header-bytes", 1024)
        ok = build_request(headers={"X-Pad": "a" * 900})
        self.assertEqual(self.connect().request("GET", "/", {"X-Pad": "a" * 900}).status, 200)
        self.assertLess(len(ok), 1024)
        self.send_raw_expect(build_request(headers={"X-Pad": "a" * 1100}), 431, "ERR_HEADER_TOO_LARGE")

    def test_header_block_over_limit_detected_before_end(self):
        # an endless header: 431 once the limit is passed, no need for the blank line
        self.start("--header-bytes", 1024)
        c = self.connect()
        c.send(b"GET / HTTP/1.1\r\nX-Pad: " + b"a" * 2000)
        self.assert_error(c, 431, "ERR_HEADER_TOO_LARGE")
        self.assert_serves()

    def test_too_many_headers_431(self):
        self.start()
        headers = {f"X-H{i}": "v" for i in range(101)}
        self.send_raw_expect(build_request(headers=headers), 431, "ERR_HEADER_TOO_LARGE")

    def test_announced_body_over_limit_413_at_once(self):
        # "at once": the body never comes and the body timeout is far beyond the hang guard, so
        # a server waiting for the body would not answer at all (was: 413 within 1 s)
        self.start("--body-bytes", 4096, "--body-timeout-ms", 600000)
        c = self.connect(timeout=HANG_GUARD)
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n")
        self.assert_error(c, 413, "ERR_BODY_TOO_LARGE")
        self.assert_serves()

    def test_body_at_limit_accepted(self):
        self.start("--body-bytes", 4096)
        r = self.connect().request("POST", "/", body=b"x" * 4096)
        self.assertEqual((r.status, r.json()["bodyLength"]), (200, 4096))
        self.assert_serves()

    def test_chunked_body_over_limit_413(self):
        self.start("--body-bytes", 4096)
        c = self.connect()
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):  # each chunk fits, the sum does not
            c.send(b"800\r\n" + b"y" * 0x800 + b"\r\n")
        self.assert_error(c, 413, "ERR_BODY_TOO_LARGE")
        c = self.connect()
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n")
        self.assert_error(c, 413, "ERR_BODY_TOO_LARGE")
        self.assert_serves()

    # ---- timeouts

    def test_slowloris_header_timeout_408(self):
        # A header dribbled a byte every 200 ms (at least; a loaded machine only slows it) never
        # ends: 408 comes while bytes still arrive, so the timer runs from the first byte and
        # bytes do not restart it. When it comes is not asserted (was: between 0.95 and 2 s).
        self.start("--header-timeout-ms", 1000)
        c = self.connect()
        data = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"z" * 100
        answered = False
        for byte in data:  # ~26 s of dribbling at least: also the hang guard
            c.send(bytes([byte]))
            ready, _, _ = select.select([c.sock], [], [], 0.2)
            if ready:
                answered = True
                break
        self.assertTrue(answered, "no answer while dribbling the header")
        self.assert_error(c, 408, "ERR_HEADER_TIMEOUT")
        self.assert_serves()

    def test_body_timeout_408(self):
        # the body never completes: 408 comes (the socket timeout is a hang guard; when the 408
        # comes is not asserted, was: within 2 s)
        self.start("--body-timeout-ms", 500)
        c = self.connect(timeout=HANG_GUARD)
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        self.assert_error(c, 408, "ERR_BODY_TIMEOUT")
        self.assert_serves()

    def test_idle_keep_alive_closes_silently(self):
        # an idle keep-alive connection is closed, with no bytes sent; when is not asserted (was:
        # between 0.4 and 1.5 s), the wait is a hang guard
        self.start("--idle-timeout-ms", 500)
        c = self.connect()
        self.assertEqual(c.request().status, 200)
        self.assertTrue(c.at_eof(timeout=HANG_GUARD))
        self.assertEqual(c.buf, b"", "idle close must send nothing")
        self.assert_serves()

    # ---- malformed and smuggling

    def test_duplicate_content_length_400(self):
        self.start()
        self.send_raw_expect(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
                             400, "ERR_BAD_REQUEST")

    def test_content_length_with_transfer_encoding_400(self):
        self.start()
        self.send_raw_expect(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400, "ERR_BAD_REQUEST")
        self.send_raw_expect(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                             b"Content-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400, "ERR_BAD_REQUEST")

    def test_garbage_request_line_400(self):
        self.start()
        self.send_raw_expect(b"HELLO THERE\r\n\r\n", 400, "ERR_BAD_REQUEST")
        self.send_raw_expect(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "ERR_BAD_REQUEST")

    def test_bad_targets_400(self):
        self.start()
        for target in (b"http://evil.example/x", b"*", b"x/y"):
            self.send_raw_expect(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n", 400, "ERR_BAD_REQUEST")

    def test_nul_byte_in_header_400(self):
        self.start()
        self.send_raw_expect(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n", 400, "ERR_BAD_REQUEST")

    def test_whitespace_before_colon_400(self):
        self.start()
        self.send_raw_expect(b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400, "ERR_BAD_REQUEST")

    # ---- connections

    def test_max_connections_503(self):
        self.start("--max-conns", 3)
        held = [self.connect() for _ in range(3)]
        for c in held:
            self.assertEqual(c.request().status, 200)
        self.assertEqual(held[0].request("GET", "/count").json()["connections"], 3)
        extra = self.connect()
        self.assert_error(extra, 503, "ERR_TOO_MANY_CONNECTIONS")
        held[0].close()
        deadline = time.monotonic() + HANG_GUARD  # a hang guard, not a timing assertion
        while True:  # the server notices the close on its next loop iteration
            c = self.connect()
            c.send(build_request())
            try:
                r = c.read_response()
            except (EOFError, ConnectionResetError):
                r = None
            if r is not None and r.status == 200:
                break
            self.assertLess(time.monotonic(), deadline, "no slot freed after a client closed")
            time.sleep(0.05)

    def test_client_disconnect_during_async_request(self):
        self.start()
        c = self.connect()
        c.send(build_request("GET", "/delay?ms=300"))
        time.sleep(0.05)
        c.close()
        r = self.connect()
        # a reset can drop bytes the server has not read yet: the answer to the first of two
        # pipelined requests (sent in one segment) shows the server read the delayed one too
        r.send(build_request("GET", "/now") + build_request("GET", "/delay?ms=300"))
        self.assertEqual(r.read_response().status, 200)
        r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        r.close()  # a reset this time
        a = self.connect()
        a.send(build_request("GET", "/delay?ms=5000&abort=answer"))
        time.sleep(0.05)
        a.close()  # answered from the abort callback
        # the first two delayed answers went to aborted requests; polled (was: a 0.5 s sleep),
        # the deadline is a hang guard
        deadline = time.monotonic() + HANG_GUARD
        while True:
            probe = self.connect()
            count = probe.request("GET", "/count").json()  # "connections" counts the probe
            probe.close()
            if (count["aborts"], count["connections"]) == (3, 1) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(count["aborts"], 3)
        self.assertEqual(count["connections"], 1)
        self.assert_serves()

    def test_two_workers_share_the_port(self):
        self.start("--workers", 2)
        seen = set()
        for _ in range(64):
            seen.add(self.connect().request().json()["worker"])
            if seen == {0, 1}:
                break
        self.assertEqual(seen, {0, 1})
        self.assert_serves()

    def test_stop_finishes_requests_in_flight(self):
        self.start()
        c = self.connect()
        # the answer to the first of two pipelined requests shows the server read the delayed
        # one (was: a 0.1 s sleep); its delay is far longer than SIGTERM takes to arrive
        c.send(build_request("GET", "/now") + build_request("GET", "/delay?ms=2000"))
        self.assertEqual(c.read_response().status, 200)
        self.proc.send_signal(signal.SIGTERM)
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["connection"], "close")
        self.assertTrue(c.at_eof())
        self.assertEqual(self.proc.wait(timeout=10), 0)


def read_answer_slowly(sock, rate=None, buf=b"", chunk=65536):
    """Read one answer (its first bytes already in buf) to its end (Content-Length) or to the
    connection's end, at about rate bytes a second (None: at once): (body bytes, how it ended:
    "whole", "eof" or "reset")."""
    body, length, start = bytearray(), None, time.monotonic()
    try:
        while length is None or len(body) < length:
            data = sock.recv(chunk)
            if rate is not None:  # pace the reads: never ahead of rate
                time.sleep(max(0.0, start + len(body) / rate - time.monotonic()))
            if not data:
                return bytes(body), "eof"
            if length is None:
                buf += data
                if b"\r\n\r\n" in buf:
                    head, rest = buf.split(b"\r\n\r\n", 1)
                    body += rest
                    length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
            else:
                body += data
        return bytes(body), "whole"
    except ConnectionResetError:
        return bytes(body), "reset"


def big_body(n):
    return (b"abcdefghijklmnopqrstuvwxyz" * (n // 26 + 1))[:n]


class EchoServerTest(unittest.TestCase):
    """HttpServerTest's helpers (starting http_echo, connecting, asserting), without its tests."""

    start = HttpServerTest.start
    stop = HttpServerTest.stop
    connect = HttpServerTest.connect
    assert_serves = HttpServerTest.assert_serves
    assert_error = HttpServerTest.assert_error
    send_raw_expect = HttpServerTest.send_raw_expect


class CompleteAnswers(EchoServerTest):
    """An answer is sent whole or its connection is reset; closing connections wait for the last
    byte. The bodies are larger than the kernel's socket buffers (tcp_wmem's 4 MiB at most) so
    that part of each answer waits in the server's queue while the client reads slowly."""

    BIG = 16 << 20

    def small_window(self, c):
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)

    def assert_whole(self, body, ended, what):
        self.assertEqual(ended, "whole", f"{what}: {len(body)} of {self.BIG} bytes, then {ended}")
        self.assertEqual(len(body), self.BIG, what)
        self.assertEqual(body, big_body(self.BIG), what)

    def test_closing_connections_send_a_slow_reader_the_whole_answer(self):
        # The client takes several times the 2 s linger to read: the linger starts after the
        # last byte was written, not when the answer was queued.
        self.start()
        for version, headers, half_close in (("HTTP/1.0", {}, False),
                                             ("HTTP/1.1", {"Connection": "close"}, False),
                                             ("HTTP/1.0", {}, True)):
            c = self.connect()
            self.small_window(c)
            c.send(build_request("GET", f"/big?n={self.BIG}", headers, version=version))
            if half_close:  # the client says it sent all it will send, and reads on
                c.sock.shutdown(socket.SHUT_WR)
            body, ended = read_answer_slowly(c.sock, rate=5 << 20)  # about 3 s
            self.assert_whole(body, ended, f"{version} {headers} half-close {half_close}")
            self.assertTrue(c.at_eof(), "closed after the answer")
        self.assert_serves()

    def test_stop_ends_unfinished_answers_whole_or_reset(self):
        # A stop with answers still being written: a client that reads on gets its answer whole
        # or a reset; one that does not read within the grace period gets a reset. Never a clean
        # EOF short of Content-Length.
        self.start("--stop-grace-ms", 300)
        reader, sleeper = self.connect(), self.connect()
        for c in (reader, sleeper):
            self.small_window(c)
            c.send(build_request("GET", f"/big?n={self.BIG}"))
        for c in (reader, sleeper):  # both answers are being written
            c.buf = c.sock.recv(1000)
            self.assertTrue(c.buf.startswith(b"HTTP/1.1 200 OK"), c.buf[:100])
        self.proc.send_signal(signal.SIGTERM)
        outcome = {}

        def read(name, c, rate):
            body, ended = read_answer_slowly(c.sock, rate, c.buf)
            if ended == "whole":
                self.assertEqual(body, big_body(self.BIG))
            outcome[name] = (len(body), ended)

        t = threading.Thread(target=read, args=("reader", reader, 20 << 20))
        t.start()
        self.assertEqual(self.proc.wait(timeout=HANG_GUARD), 0, "exit after the grace period")
        t.join(HANG_GUARD)
        read("sleeper", sleeper, None)  # it starts reading only once the server has exited
        self.assertIn(outcome["reader"][1], ("whole", "reset"), outcome)
        self.assertEqual(outcome["sleeper"][1], "reset", outcome)


class OutputBudget(EchoServerTest):
    """Answers queued to clients that do not read stay within limits.queuedBytes per worker."""

    def test_clients_that_never_read_cannot_pin_more_than_the_budget(self):
        budget, answer, clients = 16 << 20, 8 << 20, 8
        self.start("--queued-bytes", budget)
        held = []
        for _ in range(clients):
            c = self.connect()
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.send(build_request("GET", f"/big?n={answer}"))
            held.append(c)
        for c in held:  # each was answered: its first bytes arrived, or it was reset
            ready, _, _ = select.select([c.sock], [], [], HANG_GUARD)
            self.assertTrue(ready, "no answer")
        count = self.connect().request("GET", "/count").json()
        self.assertLessEqual(count["queued"], budget + answer, count)
        self.assertGreater(count["queued"], 0, count)  # some clients are still being served
        resets = 0
        for c in held:
            c.sock.setblocking(False)
            try:
                while c.sock.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass
            except ConnectionResetError:
                resets += 1
        self.assertGreater(resets, 0, "the clients holding the most output were reset")
        self.assertLess(resets, clients, "not every client was reset")
        self.assert_serves()


class RequestLine(EchoServerTest):
    """Host and the HTTP version (RFC 9112 3.2, 2.3)."""

    def test_http11_without_host_400(self):
        self.start()
        self.send_raw_expect(b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400, "ERR_BAD_REQUEST")

    def test_two_host_fields_400(self):
        self.start()
        self.send_raw_expect(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "ERR_BAD_REQUEST")
        self.send_raw_expect(b"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", 400, "ERR_BAD_REQUEST")

    def test_http10_without_host_is_served(self):
        self.start()
        c = self.connect()
        c.send(b"GET /old HTTP/1.0\r\n\r\n")
        self.assertEqual(c.read_response().json()["path"], "/old")

    def test_versions_other_than_10_and_11_505(self):
        self.start()
        for version in (b"HTTP/1.9", b"HTTP/1.2", b"HTTP/2.0", b"HTTP/0.9", b"HTTP/3.0"):
            self.send_raw_expect(b"GET / " + version + b"\r\nHost: a\r\n\r\n", 505,
                                 "ERR_HTTP_VERSION_NOT_SUPPORTED")


class TakenPort(unittest.TestCase):
    """wxsessiond refuses a port another process holds unless reusePort asks to share it."""

    def test_second_server_on_a_taken_port_exits_unless_reuse_port(self):
        first = harness.Server(args=("--dev",))
        self.addCleanup(first.cleanup)
        second = harness.Server(args=("--dev",), port=first.port, wait=False, name="second")
        self.addCleanup(second.cleanup)
        self.assertNotEqual(second.proc.wait(timeout=HANG_GUARD), 0)
        self.assertIn(f"cannot listen on 127.0.0.1:{first.port}: address in use", second.output())
        self.assertIn("reusePort", second.output())
        self.assertEqual(first.request("GET", "/healthz")[0], 200)
        joined = harness.Server(args=("--dev", "--reuse-port=true"), port=first.port, name="joined")
        self.addCleanup(joined.cleanup)
        harness.wait_until(lambda: f"listening on 127.0.0.1:{first.port}" in joined.output(),
                           "the second server with reusePort listening")
        self.assertEqual(joined.stop(), 0)
        self.assertEqual(first.stop(), 0)


if __name__ == "__main__":
    unittest.main()
