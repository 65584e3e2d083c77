"""benchlib.py: the bench's plumbing: processes started and stopped by PID, free ports, wrk runs
and their parsed summaries, precomputed logins, /proc memory readings. Python 3 stdlib only."""

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
LUA_DIR = os.path.join(BENCH_DIR, "lua")
MAGIC = "F2C224D4-2BCE-4C64-AF9F-A6D872000D1A"
APP_ID = "wxbench00000000001"
APP_SECRET = "bench-app-secret-not-a-real-one"  # passed by environment, never on a command line


def log(msg):
    """Progress line on stderr (stdout carries the final table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A step of the bench failed; the message says which and why."""


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_tcp(port, proc, timeout=20.0):
    """Waits until 127.0.0.1:port accepts a connection; raises if proc dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise BenchError(f"{proc.name} exited with {proc.popen.returncode} "
                             f"(log {proc.log_path})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{proc.name} did not listen on port {port} within {timeout}s")


class Proc:
    """One started process: its name, Popen, log file and how to stop it."""

    def __init__(self, name, popen, log_path, log_file, stop_signal, pid_file):
        self.name = name
        self.popen = popen
        self.log_path = log_path
        self.log_file = log_file
        self.stop_signal = stop_signal
        self.pid_file = pid_file

    @property
    def pid(self):
        return self.popen.pid

    def log_text(self):
        with open(self.log_path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()


class Supervisor:
    """Starts processes and guarantees they are stopped by PID: stop() one, stop_all() the rest
    (called from a finally block, so also on Ctrl-C or a failure)."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.procs = []
        self.started = {}  # name -> how many started (log files get -2, -3...)
        os.makedirs(log_dir, exist_ok=True)

    def start(self, name, argv, env=None, cwd=None, ready=None, timeout=30.0,
              stop_signal=signal.SIGTERM, pid_file=None):
        """Starts argv (stdout+stderr to <log_dir>/<name>.log). ready: a regex the log must
        match (returns the match) or None. Raises BenchError if it dies or is not ready."""
        self.started[name] = self.started.get(name, 0) + 1
        if self.started[name] > 1:
            name = f"{name}-{self.started[name]}"
        log_path = os.path.join(self.log_dir, name + ".log")
        log_file = open(log_path, "w")
        full_env = dict(os.environ)
        full_env.update(env or {})
        popen = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=full_env,
                                 cwd=cwd, start_new_session=True)
        proc = Proc(name, popen, log_path, log_file, stop_signal, pid_file)
        self.procs.append(proc)
        if ready is None:
            return proc, None
        deadline = time.monotonic() + timeout
        pattern = re.compile(ready)
        while time.monotonic() < deadline:
            m = pattern.search(proc.log_text())
            if m:
                return proc, m
            if popen.poll() is not None:
                raise BenchError(f"{name} exited with {popen.returncode}: "
                                 f"{proc.log_text()[-2000:]}")
            time.sleep(0.05)
        raise BenchError(f"{name} not ready within {timeout}s (log {log_path})")

    def stop(self, proc, timeout=15.0):
        """Stops proc by PID (its pid file's PID when it has one): stop signal, wait, SIGKILL."""
        if proc not in self.procs:
            return
        self.procs.remove(proc)
        pid = proc.pid
        if proc.pid_file and os.path.exists(proc.pid_file):
            with open(proc.pid_file) as f:
                text = f.read().strip()
            if text.isdigit():
                pid = int(text)
        if proc.popen.poll() is None:
            try:
                os.kill(pid, proc.stop_signal)
            except ProcessLookupError:
                pass
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{proc.name} (pid {proc.pid}) ignored {proc.stop_signal!s}; SIGKILL")
                proc.popen.kill()
                proc.popen.wait()
        proc.log_file.close()

    def stop_all(self):
        """Stops every process still running, newest first."""
        for proc in reversed(list(self.procs)):
            try:
                self.stop(proc)
            except Exception as e:  # keep stopping the others
                log(f"stopping {proc.name}: {e}")


def install_signal_handlers():
    """SIGTERM/SIGHUP become KeyboardInterrupt so the finally blocks stop every process."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


# ---- /proc readings

def proc_status(pid):
    """Fields of /proc/PID/status in kB (VmHWM, VmRSS, RssAnon, RssFile...), {} if gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                parts = value.split()
                if len(parts) == 2 and parts[1] == "kB":
                    out[key] = int(parts[0])
    except OSError:
        pass
    return out


def children_of(pid):
    """PIDs whose parent is pid."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def peak_rss_kb(pid, include_children=False):
    """VmHWM of pid (plus its children's, for nginx's master + workers), in kB."""
    total = proc_status(pid).get("VmHWM", 0)
    if include_children:
        for kid in children_of(pid):
            total += proc_status(kid).get("VmHWM", 0)
    return total


# ---- HTTP helpers (setup steps only; measurement is wrk's)

def http(method, url, headers=None, body=None, timeout=10.0):
    """One request; returns (status, body text)."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def encode_uri_component(text):
    """JavaScript's encodeURIComponent: UTF-8 percent-encoding, A-Z a-z 0-9 -_.!~*'() kept."""
    return urllib.parse.quote(text, safe="-_.!~*'()")


def sim_login(sim_base, user):
    """One /__wxsim/login: dict with code, rawData, signature, openid."""
    status, body = http("GET", f"{sim_base}/__wxsim/login?user={urllib.parse.quote(user)}")
    if status != 200:
        raise BenchError(f"simulator login for {user}: HTTP {status} {body[:200]}")
    return json.loads(body)


def login_headers(login):
    """The three login headers for one simulator login."""
    return {"X-WX-Code": login["code"], "X-WX-RawData": encode_uri_component(login["rawData"]),
            "X-WX-Signature": login["signature"]}


def login_user(server_base, sim_base, user, route="/applet/session"):
    """Logs user in through a server (login path) and returns the session code."""
    login = sim_login(sim_base, user)
    status, body = http("GET", server_base + route, headers=login_headers(login))
    if status != 200 or '"openId"' not in body:
        raise BenchError(f"login of {user} failed: HTTP {status} {body[:300]}")
    return login["code"]


def token_login(server_base, sim_base, user, route="/applet/login"):
    """Logs user in through the token protocol (POST route {"code", "rawData", "signature"} from
    a fresh simulator login, so the session holds the same user info as login_user's) and returns
    the session's token (43 base64url characters)."""
    login = sim_login(sim_base, user)
    body = json.dumps({"code": login["code"], "rawData": login["rawData"],
                       "signature": login["signature"]})
    status, body = http("POST", server_base + route, headers={"Content-Type": "application/json"},
                        body=body)
    try:
        token = json.loads(body).get("token") if status == 200 else None
    except ValueError:
        token = None
    if not isinstance(token, str) or not token:
        raise BenchError(f"token login of {user} failed: HTTP {status} {body[:300]}")
    return token


# ---- wrk

class Wrk:
    """Runs wrk with the bench's Lua scripts; every run ends with a parsed WRKJSON summary."""

    def __init__(self, out_dir, threads, connections, cpu=None, timeout_s=None):
        self.script_dir = os.path.join(out_dir, "lua")
        self.threads = threads
        self.connections = connections
        self.cpu = cpu  # taskset CPU list for wrk, or None
        self.timeout_s = timeout_s
        os.makedirs(self.script_dir, exist_ok=True)
        with open(os.path.join(LUA_DIR, "common.lua")) as f:
            self.common = f.read()

    def script(self, name):
        """Path of common.lua + <name>.lua, written under out/lua."""
        path = os.path.join(self.script_dir, name + ".lua")
        with open(os.path.join(LUA_DIR, name + ".lua")) as f:
            text = self.common + "\n" + f.read()
        with open(path, "w") as f:
            f.write(text)
        return path

    def argv(self, url, duration_s, script, headers=(), args=(), connections=None,
             threads=None, cpu=None):
        cpu = cpu or self.cpu
        argv = [] if cpu is None else ["taskset", "-c", cpu]
        argv += ["wrk", f"-t{threads or self.threads}", f"-c{connections or self.connections}",
                 f"-d{duration_s}s", "-s", self.script(script)]
        if self.timeout_s:
            argv.append(f"--timeout={self.timeout_s}s")
        for h in headers:
            argv += ["-H", h]
        argv.append(url)
        if args:
            argv.append("--")
            argv += [str(a) for a in args]
        return argv

    def run(self, url, duration_s, script="summary", headers=(), args=(), connections=None,
            cpu=None):
        """One wrk run (pinned to cpu when given); returns its summary dict plus rps."""
        argv = self.argv(url, duration_s, script, headers, args, connections, cpu=cpu)
        proc = subprocess.run(argv, capture_output=True, text=True,
                              timeout=duration_s + 120, start_new_session=True)
        return parse_wrk(proc.stdout, proc.stderr, proc.returncode)

    def run_until_marker(self, url, script, args, marker="GENDONE", limit_s=300):
        """Runs wrk (one thread) until its script prints marker, then stops it with SIGINT (by
        PID). Returns the summary."""
        argv = self.argv(url, limit_s, script, (), args, threads=1)
        popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
        out_lines = []
        try:
            for line in popen.stdout:
                out_lines.append(line)
                if line.strip() == marker:
                    popen.send_signal(signal.SIGINT)
            popen.wait(30)
        finally:
            if popen.poll() is None:
                popen.kill()
                popen.wait()
        return parse_wrk("".join(out_lines), popen.stderr.read(), popen.returncode)


def parse_wrk(stdout, stderr, returncode):
    """The WRKJSON summary of a wrk run, with rps and total errors added."""
    m = re.search(r"^WRKJSON (\{.*\})$", stdout, re.M)
    if not m:
        raise BenchError(f"wrk failed ({returncode}): {stdout[-1500:]} {stderr[-1500:]}")
    s = json.loads(m.group(1))
    s["rps"] = s["requests"] / (s["duration_us"] / 1e6) if s["duration_us"] else 0.0
    s["errors"] = (s["connect"] + s["read"] + s["write"] + s["status"] + s["timeout"] + s["bad"]
                   + s["exhausted"])
    return s


def aggregate(runs):
    """Median req/s, median p50/p99 (ms) and summed errors of several runs."""
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "rps_runs": [r["rps"] for r in runs],
        "p50_ms": statistics.median(r["p50_us"] for r in runs) / 1000.0,
        "p99_ms": statistics.median(r["p99_us"] for r in runs) / 1000.0,
        "max_ms": max(r["max_us"] for r in runs) / 1000.0,
        "errors": sum(r["errors"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
    }


# ---- precomputed logins

class LoginPool:
    """Fresh simulator logins (code, percent-encoded rawData, signature), each code to be used
    once. Generated in bulk by wrk against /__wxsim/login, right before the run that uses them
    (codes live 5 minutes); the simulator's tables are reset first so they never fill up."""

    def __init__(self, wrk, sim_base, out_dir, users=10000):
        self.wrk = wrk
        self.sim_base = sim_base
        self.out_dir = out_dir
        self.users = users

    def make(self, count, tag):
        """Writes count logins to <out>/logins-<tag>.tsv and returns its path."""
        status, body = http("POST", self.sim_base + "/__wxsim/reset", body=b"")
        if status != 200:
            raise BenchError(f"simulator reset: HTTP {status} {body[:200]}")
        raw_path = os.path.join(self.out_dir, f"logins-{tag}.jsonl")
        tsv_path = os.path.join(self.out_dir, f"logins-{tag}.tsv")
        t0 = time.monotonic()
        summary = self.wrk.run_until_marker(self.sim_base + "/", "gen_logins",
                                            [count, self.users, raw_path])
        written = 0
        with open(raw_path, encoding="utf-8") as src, open(tsv_path, "w") as dst:
            for line in src:
                line = line.strip()
                if not line:
                    continue
                j = json.loads(line)
                dst.write(f"{j['code']}\t{encode_uri_component(j['rawData'])}\t"
                          f"{j['signature']}\n")
                written += 1
        os.remove(raw_path)
        if written < count:
            raise BenchError(f"only {written} of {count} logins precomputed "
                             f"({summary['bad']} bad answers)")
        log(f"precomputed {written} logins in {time.monotonic() - t0:.1f}s")
        return tsv_path


def seed_paints(base, code, count, actions, workers=16):
    """Saves count drawings (ids seed-0..) for the session code with concurrent keep-alive POSTs,
    then pages through the list to confirm they are all there."""
    from http.client import HTTPConnection
    import queue
    import threading
    host, port = base.replace("http://", "").split(":")
    todo = queue.Queue()
    for i in range(count):
        todo.put(i)
    failures = []

    def worker():
        conn = HTTPConnection(host, int(port), timeout=30)
        try:
            while not failures:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                body = json.dumps({"id": f"seed-{i}", "actions": actions})
                conn.request("POST", "/applet/session/paints/save", body=body, headers={
                    "X-WX-Code": code, "Content-Type": "application/json"})
                resp = conn.getresponse()
                text = resp.read().decode()
                if resp.status != 200 or '"code":0' not in text:
                    failures.append(f"HTTP {resp.status} {text[:200]}")
        finally:
            conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise BenchError(f"seeding drawings failed: {failures[0]}")
    seen, cursor = 0, None
    while True:
        q = "limit=100" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        status, text = http("GET", f"{base}/applet/session/paints/list?{q}",
                            headers={"X-WX-Code": code})
        page = json.loads(text) if status == 200 else {}
        if page.get("code") != 0:
            raise BenchError(f"listing seeded drawings: HTTP {status} {text[:200]}")
        seen += len(page["data"])
        cursor = page.get("next")
        if not cursor:
            break
    if seen != count:
        raise BenchError(f"seeded {count} drawings but the list holds {seen}")
    log(f"seeded {count} drawings in {time.monotonic() - t0:.1f}s")
