"""harness.py: start and stop the real programs for integration tests.

Every process runs on loopback with a free port, is started by the test and stopped by it
(also when the test fails). The build directory comes from $WXS_BUILD_DIR (ctest sets it).
"""
import contextlib
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

# WXS_VALGRIND=1: run every wxsessiond the harness starts under valgrind memcheck (normal build,
# not ASan). A leak or an invalid access makes it exit 99, which the tests' "stop() == 0" catch.
VALGRIND = os.environ.get("WXS_VALGRIND") == "1"
VALGRIND_ARGV = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                 "--errors-for-leak-kinds=definite,indirect", "--track-fds=no", "-q"]
SLOWDOWN = 10.0 if VALGRIND else 1.0  # start-up and stop take this much longer


def require_program(test, name, package):
    """The path of program name, or skip test, printing why (a skip is never silent)."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        print(f"skipped: {name} not installed (Debian's {package} package; "
              "scripts/deps.sh --test installs it)")
        test.skipTest(f"{name} not installed")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_class_servers(server, sim, tmp):
    """A test class's tearDownClass: stop its wxsessiond and simulator, remove its temporary
    folder, and fail when wxsessiond did not exit 0 (a crash or a sanitizer report)."""
    status = server.stop()
    log = server.output()
    server.cleanup()
    sim.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)
    assert status == 0, f"wxsessiond exited with {status}:\n{log[-3000:]}"


def stop_instances(test, instances, procs):
    """Stop the wxsessiond instances (SIGTERM), clean up every process of procs (the last
    started first), then fail test when an instance did not exit 0 (a crash or a sanitizer
    report), with its log."""
    statuses = [(s.name, s.stop(), s.output()) for s in instances]
    for p in reversed(procs):
        p.cleanup()
    for name, status, log in statuses:
        test.assertEqual(status, 0, f"{name} exited with {status}:\n{log[-3000:]}")


def wait_until(condition, what, timeout=30.0):
    """Poll condition() until it is true. timeout is a hang guard, far above the normal case,
    not a timing assertion: running out fails the test with what."""
    deadline = time.monotonic() + timeout * SLOWDOWN
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not seen within the {timeout} s hang guard")
        time.sleep(0.02)


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

    def __init__(self, argv, name, env=None, cwd=None, preexec_fn=None):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"wxs-{name}-")
        self.log_path = os.path.join(self.dir, f"{name}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=cwd or self.dir, preexec_fn=preexec_fn)

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit status (SIGKILL after timeout: returns None)."""
        timeout *= SLOWDOWN
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
        # libmongoc (linked by wxsessiond) keeps its counters in shared memory named by the pid
        # and removes it at a normal exit only: a process killed here leaves it, and the next
        # process that gets the same pid then prints a text warning before main() (breaking a
        # JSON log). Remove what our own process left.
        with contextlib.suppress(OSError):
            os.unlink(f"/dev/shm/mongoc-{self.proc.pid}")


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
        self.release_port()
        self.__init__(self.password, self.port)

    # While this Redis is down its port stays reserved: a socket bound to it (not listening:
    # connections are refused, as with no server) keeps another test's free_port() from
    # handing the port to a server of its own, which the stores here would then reach.
    def hold_port(self):
        if getattr(self, "_hold", None) is None:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", self.port))
            except OSError:
                s.close()
                return
            self._hold = s

    def release_port(self):
        hold = getattr(self, "_hold", None)
        if hold is not None:
            hold.close()
            self._hold = None

    def stop(self, timeout=15):
        status = super().stop(timeout)
        self.hold_port()
        return status

    def kill(self):
        super().kill()
        self.hold_port()

    def cleanup(self):
        super().cleanup()
        self.release_port()


# Tests log in far more often than a client would: the login limiter (limits.loginsPerMinute,
# limits.loginBurst) is raised out of the way unless a test sets either itself.
UNLIMITED_LOGINS = ["--limits-logins-per-minute=1000000", "--limits-login-burst=1000000"]


def _sets_login_limit(cfg, args, env):
    limits = cfg.get("limits") or {}
    return ("loginsPerMinute" in limits or "loginBurst" in limits
            or any(a.startswith("--limits-login") for a in args)
            or any(k.startswith("WXS_LIMITS_LOGIN") for k in (env or {})))


class Server(Process):
    """wxsessiond with a JSON config file (written from `config`), extra flags and env."""

    def __init__(self, config=None, args=(), env=None, name="wxsessiond", workers=2,
                 wait=True, port=None, healthy=True, preexec_fn=None):
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
        argv = [WXSESSIOND, "--config", self.config_path] + list(args)
        if not _sets_login_limit(cfg, args, env):
            argv += UNLIMITED_LOGINS
        super().__init__((VALGRIND_ARGV if VALGRIND else []) + argv, name, env=full_env,
                         preexec_fn=preexec_fn)
        self._cfgdir = tmp
        if wait:
            wait_port(self.port, self.proc, name, timeout=10.0 * SLOWDOWN)
        if wait and healthy:
            self.wait_healthy()

    def wait_healthy(self, timeout=10.0):
        """Until /healthz says 200 (the store connection is up)."""
        deadline = time.monotonic() + timeout * SLOWDOWN
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


# ---- helpers for the fault-injection, hostile-client and secrets tests

class PersistentRedis(Redis):
    """redis-server with an append-only file (appendfsync always) in a directory that outlives
    restarts, so what Redis acknowledged survives kill -9 and restart()."""

    def __init__(self, password=None, port=None, data_dir=None):
        self._old_dirs = getattr(self, "_old_dirs", [])
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="wxs-redis-data-")
        self.port = port or free_port()
        self.password = password
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes", "--appendfsync", "always", "--dir", self.data_dir]
        if password:
            argv += ["--requirepass", password]
        Process.__init__(self, argv, "redis")
        wait_port(self.port, self.proc, "redis-server")

    def restart(self):
        """Start again on the same port and data directory after stop() or kill()."""
        self.release_port()
        self._old_dirs.append(self.dir)
        old_log = self.log
        self.__init__(self.password, self.port, self.data_dir)
        if not old_log.closed:
            old_log.close()

    def cleanup(self):
        super().cleanup()
        for d in self._old_dirs + [self.data_dir]:
            shutil.rmtree(d, ignore_errors=True)


def rss_kib(pid):
    """VmRSS of a process in KiB (from /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def open_fds(pid):
    """How many file descriptors a process has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def raise_nofile(want):
    """Raise this process's soft RLIMIT_NOFILE towards want (at most the hard limit; as root the
    hard limit is raised too when allowed). Returns the soft limit now in force."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            want = hard
    if soft == resource.RLIM_INFINITY or soft >= want:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def http_status(data):
    """The status code of the first response in raw bytes (None if there is none)."""
    if not data.startswith(b"HTTP/1.1 "):
        return None
    return int(data[9:12])


def split_responses(data):
    """Raw bytes of pipelined responses (with Content-Length) -> [(status, body bytes)]."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep or not head.startswith(b"HTTP/1.1 "):
            break
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        out.append((int(head[9:12]), rest[:length]))
        data = rest[length:]
    return out
