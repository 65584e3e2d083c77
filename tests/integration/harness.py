"""harness.py: start and stop the real programs for integration tests.

Every process runs on loopback with a free port, is started by the test and stopped by it
(also when the test fails). The build directory comes from $WXS_BUILD_DIR (ctest sets it).
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

BUILD_DIR = os.environ.get("WXS_BUILD_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build")
WXSESSIOND = os.path.join(BUILD_DIR, "wxsessiond")
WXSESSION_CLI = os.path.join(BUILD_DIR, "wxsession")
APP_ID = "wx1234567890abcdef"
APP_SECRET = "s3cr3t-app-secret-0123456789abcd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s")


class Process:
    """A child process with its output in a log file, stopped with SIGTERM."""

    def __init__(self, argv, name, env=None, cwd=None):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"wxs-{name}-")
        self.log_path = os.path.join(self.dir, f"{name}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=cwd or self.dir)

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit status (SIGKILL after timeout: returns None)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        self.log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        self.kill()
        if not self.log.closed:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis(Process):
    def __init__(self, password=None, port=None):
        self.port = port or free_port()
        self.password = password
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no"]
        if password:
            argv += ["--requirepass", password]
        super().__init__(argv, "redis")
        wait_port(self.port, self.proc, "redis-server")

    def cli(self, *args):
        argv = ["redis-cli", "-p", str(self.port), "--no-auth-warning"]
        if self.password:
            argv += ["-a", self.password]
        out = subprocess.run(argv + list(args), capture_output=True, check=True, timeout=10)
        return out.stdout.decode().strip()

    def restart(self):
        """Start again on the same port after stop()."""
        self.__init__(self.password, self.port)


class Server(Process):
    """wxsessiond with a JSON config file (written from `config`), extra flags and env."""

    def __init__(self, config=None, args=(), env=None, name="wxsessiond", workers=2,
                 wait=True, port=None, healthy=True):
        self.port = port or free_port()
        cfg = {"port": self.port, "workers": workers, "appId": APP_ID, "appSecret": APP_SECRET}
        cfg.update(config or {})
        self.config = cfg
        full_env = dict(os.environ)
        full_env.update(env or {})
        tmp = tempfile.mkdtemp(prefix="wxs-cfg-")
        self.config_path = os.path.join(tmp, "config.json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f)
        super().__init__([WXSESSIOND, "--config", self.config_path] + list(args), name,
                         env=full_env)
        self._cfgdir = tmp
        if wait:
            wait_port(self.port, self.proc, name)
        if wait and healthy:
            self.wait_healthy()

    def wait_healthy(self, timeout=10.0):
        """Until /healthz says 200 (the store connection is up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.request("GET", "/healthz")[0] == 200:
                return
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} not healthy within {timeout}s:\n{self.output()[-2000:]}")

    def cleanup(self):
        super().cleanup()
        shutil.rmtree(self._cfgdir, ignore_errors=True)

    def request(self, method, path, headers=None, body=None, timeout=10):
        return request(self.port, method, path, headers, body, timeout)


class Simulator(Server):
    """wxsessiond --simulator-only: WeChat's API as a separate process."""

    def __init__(self, config=None):
        super().__init__(config, args=("--simulator-only",), name="simulator", workers=1)

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def login(self, user="alice", **extra):
        q = urllib.parse.urlencode(dict(user=user, **extra))
        status, _, body = self.request("GET", f"/__wxsim/login?{q}")
        assert status == 200, body
        return json.loads(body)

    def stats(self):
        status, _, body = self.request("GET", "/__wxsim/stats")
        assert status == 200, body
        return json.loads(body)

    def configure(self, **settings):
        status, _, body = self.request("POST", "/__wxsim/config",
                                       {"Content-Type": "application/json"},
                                       json.dumps(settings).encode())
        assert status == 200, body

    def reset(self):
        status, _, body = self.request("POST", "/__wxsim/reset", body=b"")
        assert status == 200, body


def request(port, method, path, headers=None, body=None, timeout=10):
    """One request on a new connection: (status, headers dict lowercased, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def login_headers(creds, code=None, raw=None, signature=None):
    """The headers of a first request, from a simulator login reply."""
    raw = creds["rawData"] if raw is None else raw
    return {
        "X-WX-Code": code or creds["code"],
        "X-WX-RawData": urllib.parse.quote(raw, safe="-_.!~*'()"),  # encodeURIComponent
        "X-WX-Signature": signature or creds["signature"],
    }


def raw_exchange(sock_port, data, timeout=5):
    """Send raw bytes, read until the server closes or timeout; returns the bytes read."""
    with socket.create_connection(("127.0.0.1", sock_port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
        except socket.timeout:
            pass
        return b"".join(chunks)
