#!/usr/bin/env python3
"""backend.py: a backend behind the wxsession gateway, in any language (here Python's standard
library): it trusts the identity nginx puts in X-WX-OpenId, X-WX-UnionId and X-WX-AppId, and
echoes every request's method, path and headers back as JSON so you can see what arrived.

    python3 backend.py --port 8081 [--listen 127.0.0.1]

Listen on loopback (or a private network) only: the identity headers are trustworthy only when
no one but nginx can reach this process (docs/gateway.md, "Trust").

GET /__backend/count (answered without counting) gives {"count": N}, the requests served so
far, so a test can tell that a refused request never arrived.
"""
import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNT_PATH = "/__backend/count"


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive with nginx's upstream connections
    count = 0
    lock = threading.Lock()

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if self.path == COUNT_PATH:
            with Echo.lock:
                self.answer(200, {"count": Echo.count})
            return
        with Echo.lock:
            Echo.count += 1
        headers = {}
        for name, value in self.headers.items():  # the names as sent; repeated ones as a list
            key = name.lower()
            headers[key] = value if key not in headers else [headers[key], value]
        self.answer(200, {
            # what the application would use: the user nginx vouched for (None: the header
            # did not arrive)
            "openId": self.headers.get("X-WX-OpenId"),
            "unionId": self.headers.get("X-WX-UnionId"),
            "appId": self.headers.get("X-WX-AppId"),
            "method": self.command, "path": self.path, "headers": headers,
            "bodyBytes": len(body)})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any

    def log_message(self, fmt, *args):  # one short line per request, no header values
        print(f"backend: {self.command} {self.path} -> {args[1] if len(args) > 1 else '-'}",
              flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", default="127.0.0.1", help="address (127.0.0.1)")
    p.add_argument("--port", type=int, default=8081, help="port (8081)")
    a = p.parse_args()
    server = ThreadingHTTPServer((a.listen, a.port), Echo)
    server.daemon_threads = True
    print(f"backend listening on {a.listen}:{a.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
