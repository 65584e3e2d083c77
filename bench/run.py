#!/usr/bin/env python3
"""run.py: the benchmark suite's one entry point (`make bench`): builds wxsessiond (Release),
starts redis-server, a Redis Cluster (for the cluster rows), the WeChat simulator, wxsessiond,
nginx and the Node baseline on loopback, runs the wrk scenarios, stops everything by PID and
writes bench/out/report.md + chart.svg.

    bench/run.py                 the full suite (wrk -t1 -c64 -d10s, median of 3 runs)
    bench/run.py --quick         a short pass for development (-d3s, 1 run)
    bench/run.py --memory        the memory check (1M SQLite sessions, 10-minute load)
    bench/run.py --report-only   rebuild the report from bench/out/*.json
    bench/run.py --publish       copy the report and chart to docs/benchmarks.{md,svg}

Python 3 standard library only."""

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import (APP_ID, APP_SECRET, BENCH_DIR, REPO_DIR, BenchError,  # noqa: E402
                      LoginPool, Supervisor, Wrk, aggregate, free_port, install_signal_handlers,
                      log, seed_paints, wait_tcp)
from cluster import RedisCluster  # noqa: E402
import report  # noqa: E402
from scenarios import Dynamic, Fixed, run_group  # noqa: E402

PACKAGES = {"wrk": "wrk", "nginx": "nginx", "redis-server": "redis-server",
            "redis-benchmark": "redis-tools", "redis-cli": "redis-tools", "node": "nodejs",
            "npm": "npm", "cmake": "cmake"}
NODE_SRC = os.path.normpath(os.path.join(REPO_DIR, "..", "shared", "baseline-node"))
LIST_SEED = 10000
CLUSTER_IDS = ("code_cluster", "login_cluster", "login_cluster_wait0")
WAIT_AUTO_CLUSTER = "waitReplicas auto = 1 on a cluster: each session write waits for a replica"
WAIT_AUTO_SINGLE = "waitReplicas auto = 0 on a single Redis (no replica): no WAIT"

# What every nginx of the benchmarks shares: same worker count as wxsessiond, no access log,
# its files in its own folder; the http block is left open for the servers.
NGINX_HEAD = """# written by bench/run.py
worker_processes {workers};
pid {pid};
error_log {dir}/error.log warn;
daemon off;
master_process on;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
"""

# nginx `return 200` reference: SO_REUSEPORT.
NGINX_CONF = NGINX_HEAD + """    server {{
        listen 127.0.0.1:{port} reuseport;
        location / {{
            default_type application/json;
            return 200 '{{"wxUserInfo":null}}';
        }}
    }}
}}
"""

# The gateway pair (docs/gateway.md): one nginx, the "front" server proxies /direct/ straight to
# the backend and /auth/ through auth_request to wxsessiond's gateway endpoint, as
# deploy/nginx/gateway.conf does; the backend is a second server block of the same nginx
# (`return 200` echoing the identity it got), so no Python runs in the measurement. Keep-alive
# on every upstream connection.
NGINX_GATEWAY_CONF = NGINX_HEAD + """    upstream wxsession_gateway {{ server 127.0.0.1:{wxs_port}; keepalive 64; }}
    upstream app_backend {{ server 127.0.0.1:{backend_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{backend_port} reuseport;
        location / {{
            default_type application/json;
            return 200 '{{"openId":"$http_x_wx_openid"}}';
        }}
    }}
    server {{
        listen 127.0.0.1:{port} reuseport;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /applet/ {{ proxy_pass http://wxsession_gateway; }}
        location /direct/ {{ proxy_pass http://app_backend; }}
        location /auth/ {{
            auth_request /__wxs_auth;
            auth_request_set $wx_openid $upstream_http_x_wx_openid;
            auth_request_set $wx_unionid $upstream_http_x_wx_unionid;
            auth_request_set $wx_appid $upstream_http_x_wx_appid;
            proxy_set_header Connection "";
            proxy_set_header X-WX-OpenId $wx_openid;
            proxy_set_header X-WX-UnionId $wx_unionid;
            proxy_set_header X-WX-AppId $wx_appid;
            proxy_set_header Authorization "";
            proxy_pass http://app_backend;
        }}
        location = /__wxs_auth {{
            internal;
            proxy_pass http://wxsession_gateway/__auth;
            proxy_pass_request_body off;
            proxy_set_header Connection "";
            proxy_set_header Content-Length "";
        }}
    }}
}}
"""
GATEWAY_IDS = ("gw_direct", "gw_auth")


# ---- set-up steps

def ensure_packages():
    """Installs the Debian packages whose programs are missing (needs root)."""
    missing = sorted({pkg for prog, pkg in PACKAGES.items() if shutil.which(prog) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise BenchError(f"missing programs; install as root: apt-get install {' '.join(missing)}")
    log(f"installing {' '.join(missing)}")
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"] + missing, check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def build(out_dir, attempts=5):
    """Release build of wxsessiond in <out>/build; retries (the tree may be mid-edit)."""
    build_dir = os.path.join(out_dir, "build")
    for attempt in range(1, attempts + 1):
        cfg = subprocess.run(["cmake", "-S", REPO_DIR, "-B", build_dir,
                              "-DCMAKE_BUILD_TYPE=Release"], capture_output=True, text=True)
        if cfg.returncode == 0:
            b = subprocess.run(["cmake", "--build", build_dir, "-j2", "--target", "wxsessiond"],
                               capture_output=True, text=True)
            if b.returncode == 0:
                return os.path.join(build_dir, "wxsessiond")
            why = b.stdout[-2000:] + b.stderr[-2000:]
        else:
            why = cfg.stdout[-2000:] + cfg.stderr[-2000:]
        log(f"build failed (attempt {attempt}/{attempts}); retrying in 30s:\n{why}")
        if attempt < attempts:
            time.sleep(30)
    raise BenchError("wxsessiond does not build")


def prepare_node(out_dir, node_src):
    """Copies the Node baseline (node_src, read-only; ../shared/baseline-node by default) to
    <out>/baseline-node and runs npm ci there when its lock file changed or node_modules is
    missing. Returns the directory, or None (with the reason printed) when node_src holds no
    baseline: the Node rows are then skipped."""
    if not os.path.isfile(os.path.join(node_src, "server.js")):
        log(f"skipping the Node baseline rows: no baseline at {node_src} (see --node-src)")
        return None
    dst = os.path.join(out_dir, "baseline-node")
    src_lock = os.path.join(node_src, "package-lock.json")
    dst_lock = os.path.join(dst, "package-lock.json")
    fresh = (os.path.isdir(os.path.join(dst, "node_modules")) and os.path.exists(dst_lock)
             and open(src_lock).read() == open(dst_lock).read())
    for name in ("server.js", "session.js", "package.json", "package-lock.json"):
        os.makedirs(dst, exist_ok=True)
        shutil.copyfile(os.path.join(node_src, name), os.path.join(dst, name))
    if not fresh:
        log("npm ci in bench/out/baseline-node")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=dst, check=True,
                       stdout=subprocess.DEVNULL)
    return dst


def actions_text():
    """A One Stroke drawing as the client serializes it (stroke.js): 120 points on a spiral,
    about 1.5 KB of JSON text."""
    points = []
    for i in range(120):
        r = 20 + i * 1.4
        points.append([round(300 + r * math.cos(i / 6), 1), round(200 + r * math.sin(i / 6), 1)])
    stroke = {"v": 1, "width": 600, "height": 400, "color": "#1f2937", "lineWidth": 6,
              "points": points}
    return json.dumps(stroke, separators=(",", ":"))


def machine_description():
    """nproc, CPU model, memory, kernel and tool versions, for the report."""
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"
    model = "?"
    for line in first(["lscpu"]).splitlines():
        if line.startswith("Model name"):
            model = line.split(":", 1)[1].strip()
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": first(["nproc"]), "cpu": model, "memory_gib": round(mem_kb / 1048576, 1),
        "kernel": platform.release(),
        "os": first(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
        "wrk": first(["sh", "-c", "dpkg-query -W -f='${Version}' wrk"]),
        "nginx": first(["sh", "-c", "nginx -v 2>&1"]).replace("nginx version: ", ""),
        "redis": first(["redis-server", "--version"]).split()[2].replace("v=", ""),
        "node": first(["node", "--version"]),
        "load_before": open("/proc/loadavg").read().split()[:3],
    }


# ---- the suite

class Suite:
    """Holds the shared infrastructure (redis-server, the Redis Cluster when a cluster row is
    selected, the two simulators) and runs the scenario groups; each scenario has its own server
    process, so each peak RSS belongs to one scenario."""

    def __init__(self, args, out_dir, binary, node_dir):
        self.args = args
        self.out = out_dir
        self.bin = binary
        self.node_dir = node_dir
        self.data = os.path.join(out_dir, "data")
        for stale in ("logs", "nginx", "lua"):
            shutil.rmtree(os.path.join(out_dir, stale), ignore_errors=True)
        self.sup = Supervisor(os.path.join(out_dir, "logs"))
        self.wrk = Wrk(out_dir, args.threads, args.connections)
        self.results = []
        self.refs = {}
        self.redis_port = None
        self.cluster = None
        self.sim_base = None
        self.logins = None
        self.gateway = None  # (nginx proc, base URL) of the gateway pair, started once
        self.gateway_procs = []
        self.run_tag = 0

    # -- infrastructure

    def start_infra(self):
        shutil.rmtree(self.data, ignore_errors=True)
        os.makedirs(self.data)
        self.redis_port = free_port()
        redis, _ = self.sup.start("redis-server", [
            "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", self.data, "--daemonize", "no"])
        wait_tcp(self.redis_port, redis)
        self.redis = redis
        if any(self.selected(sid) for sid in CLUSTER_IDS):
            self.cluster = RedisCluster(self.sup, self.data)
            try:
                self.cluster.start()
            except BenchError as e:  # the cluster rows fail with this reason; the others go on
                log(f"Redis Cluster: {e}")
                self.cluster.failed = str(e)
        sim, m = self.sup.start("simulator", [
            self.bin, "--simulator-only", "--port=0", f"--workers={self.args.workers}",
            f"--app-id={APP_ID}", "--simulator-quota-per-minute=1000000"],
            env={"WXS_APP_SECRET": APP_SECRET}, ready=r"listening on 127\.0\.0\.1:(\d+)")
        self.sim = sim
        self.sim_base = f"http://127.0.0.1:{m.group(1)}"
        self.logins = LoginPool(self.wrk, self.sim_base, self.data)
        # a second simulator answering jscode2session after a WeChat-like round trip
        slow, m = self.sup.start("simulator-latency", [
            self.bin, "--simulator-only", "--port=0", f"--workers={self.args.workers}",
            f"--app-id={APP_ID}", "--simulator-quota-per-minute=1000000",
            f"--simulator-latency-ms={self.args.wechat_latency_ms}"],
            env={"WXS_APP_SECRET": APP_SECRET}, ready=r"listening on 127\.0\.0\.1:(\d+)")
        self.slow_sim = slow
        self.slow_sim_base = f"http://127.0.0.1:{m.group(1)}"
        self.slow_logins = LoginPool(self.wrk, self.slow_sim_base, self.data)

    def start_wxsessiond(self, name, store, cpu=None, extra=(), sim_base=None, binary=None):
        """Starts wxsessiond (binary: another build of it, --compare-bin) with store
        (redis|sqlite) using the simulator at sim_base (default: the one without latency);
        returns (proc, base URL)."""
        argv = [] if cpu is None else ["taskset", "-c", cpu]
        db = os.path.join(self.data, f"{name}.db")  # sessions (sqlite store) and paints
        argv += [binary or self.bin, "--port=0", f"--workers={self.args.workers}",
                 f"--app-id={APP_ID}", f"--store={store}", f"--redis-port={self.redis_port}",
                 f"--sqlite-path={db}",
                 f"--wechat-api-base={sim_base or self.sim_base}",
                 "--paints-max-per-user=100000000",
                 # every login comes from 127.0.0.1: the login limiter would measure itself
                 "--limits-logins-per-minute=1000000", "--limits-login-burst=1000000"] + list(extra)
        proc, m = self.sup.start(name, argv, env={"WXS_APP_SECRET": APP_SECRET},
                                 ready=r"listening on 127\.0\.0\.1:(\d+)")
        return proc, f"http://127.0.0.1:{m.group(1)}"

    def start_node(self, sim_base=None):
        port = free_port()
        proc, _ = self.sup.start("node-baseline", ["node", "server.js"], cwd=self.node_dir, env={
            "HOST": "127.0.0.1", "PORT": str(port), "REDIS_PORT": str(self.redis_port),
            "WX_APPID": APP_ID, "WX_SECRET": APP_SECRET, "WX_API_BASE": sim_base or self.sim_base},
            ready=r"node baseline listening")
        wait_tcp(port, proc)
        return proc, f"http://127.0.0.1:{port}"

    def start_nginx(self, cpu=None):
        port = free_port()
        ndir = os.path.join(self.out, "nginx", str(port))
        os.makedirs(os.path.join(ndir, "tmp"), exist_ok=True)
        pid_file = os.path.join(ndir, "nginx.pid")
        conf = os.path.join(ndir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(workers=self.args.workers, pid=pid_file, dir=ndir,
                                      port=port))
        argv = [] if cpu is None else ["taskset", "-c", cpu]
        argv += ["nginx", "-p", ndir, "-c", conf, "-e", os.path.join(ndir, "error.log")]
        proc, _ = self.sup.start("nginx", argv, pid_file=pid_file)
        wait_tcp(port, proc)
        return proc, f"http://127.0.0.1:{port}"

    def start_gateway(self):
        """The gateway pair's shared set-up, once for both rows: wxsessiond (Redis store) and
        nginx with NGINX_GATEWAY_CONF in front of it and of its own `return 200` backend.
        Returns (nginx proc, base URL); stop_gateway() stops both."""
        if self.gateway is None:
            wxs, wxs_base = self.start_wxsessiond("wxs-gateway", "redis")
            self.gateway_procs.append(wxs)
            port, backend_port = free_port(), free_port()
            ndir = os.path.join(self.out, "nginx", f"gateway-{port}")
            os.makedirs(os.path.join(ndir, "tmp"), exist_ok=True)
            pid_file = os.path.join(ndir, "nginx.pid")
            conf = os.path.join(ndir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_GATEWAY_CONF.format(
                    workers=self.args.workers, pid=pid_file, dir=ndir, port=port,
                    backend_port=backend_port, wxs_port=wxs_base.rsplit(":", 1)[1]))
            proc, _ = self.sup.start("nginx-gateway", ["nginx", "-p", ndir, "-c", conf, "-e",
                                                       os.path.join(ndir, "error.log")],
                                     pid_file=pid_file)
            self.gateway_procs.append(proc)
            wait_tcp(port, proc)
            wait_tcp(backend_port, proc)
            self.gateway = (proc, f"http://127.0.0.1:{port}")
        return self.gateway

    def stop_gateway(self):
        for proc in reversed(self.gateway_procs):
            self.sup.stop(proc)
        self.gateway_procs = []
        self.gateway = None

    def gateway_rows(self):
        """nginx to the backend directly vs through auth_request to wxsessiond (a Bearer token
        of one user, looked up on Redis), same nginx, same backend, same rounds."""
        direct = Fixed(self, "gw_direct", "nginx -> backend, no auth", "nginx",
                       self.start_gateway, "/direct/items", '"openId"')
        auth = Fixed(self, "gw_auth", "nginx auth_request -> wxsessiond (Redis) -> backend",
                     "nginx", self.start_gateway, "/auth/items", '"openId":"o',
                     user="bench-gateway", bearer=True)
        for row in (direct, auth):
            row.owns = False  # both on one nginx: stop_gateway() stops it after the group
            row.children = True
        direct.note = "backend: nginx return 200 in a second server block of the same nginx"
        auth.note = ("one Bearer token; the auth subrequest (headers only) to /__auth, then the "
                     "same backend with X-WX-OpenId")
        return [direct, auth]

    # -- bookkeeping

    def selected(self, sid):
        """--only ID selects the ids holding ID; --only =ID the id ID alone."""
        if self.node_dir is None and sid.startswith("node_"):
            return False  # no baseline to run (prepare_node said why)
        return not self.args.only or any(sid == o[1:] if o.startswith("=") else o in sid
                                         for o in self.args.only)

    def add_result(self, scenario, res):
        res.update({"id": scenario.id, "title": scenario.title, "system": scenario.system})
        if "rps" in res:
            log(f"{scenario.id}: {res['rps']:,.0f} req/s  p50 {res['p50_ms']:.2f} ms  p99 "
                f"{res['p99_ms']:.2f} ms  errors {res['errors']}  peak RSS "
                f"{res.get('rss_kb', 0) / 1024:.1f} MiB")
        self.results.append(res)

    def latency_bound(self):
        """Most exchanges per second the connections allow with the simulator's latency."""
        return self.args.connections * 1000.0 / self.args.wechat_latency_ms * 1.1

    # -- references outside wrk

    def redis_benchmark(self):
        """redis-benchmark -t get,set, same connection count, 300-byte values (a session's
        size); median of the runs. Returns one result per command."""
        rows = {"GET": [], "SET": []}
        for _ in range(self.args.runs):
            out = subprocess.run(
                ["redis-benchmark", "-h", "127.0.0.1", "-p", str(self.redis_port), "-t", "get,set",
                 "-c", str(self.args.connections), "-n", str(self.args.redis_requests), "-d", "300",
                 "--csv"], capture_output=True, text=True, timeout=600).stdout
            for line in out.splitlines():
                cells = [c.strip('"') for c in line.split(",")]
                if cells and cells[0] in rows:
                    rows[cells[0]].append({"rps": float(cells[1]), "p50_us": float(cells[4]) * 1e3,
                                           "p99_us": float(cells[6]) * 1e3,
                                           "max_us": float(cells[7]) * 1e3, "errors": 0,
                                           "requests": self.args.redis_requests})
        if not rows["GET"]:
            raise BenchError("redis-benchmark printed no results")
        return {cmd: aggregate(runs) for cmd, runs in rows.items()}

    # -- the scenarios, in groups measured round-robin

    def run(self):
        a = self.args
        wx = self.start_wxsessiond
        node = self.start_node
        sess = "/applet/session"
        null = '{"wxUserInfo":null}'
        slow = self.slow_sim_base
        lat = f"WeChat {a.wechat_latency_ms} ms"

        def logins(pool):
            return lambda scn, count, tag: [pool.make(count, tag), sess, a.threads]

        def token_logins(pool):
            return lambda scn, count, tag: [pool.make(count, tag), "/applet/login", a.threads]

        def exchange_args(pool):
            return lambda scn, count, tag: [pool.make(count, tag), APP_ID, APP_SECRET, a.threads]

        def save_args(scn, count, tag):
            return [scn.path, scn.code, f"r{tag}", json.dumps(actions_text())[1:-1]]

        def seed(base, code):
            seed_paints(base, code, LIST_SEED, actions_text())

        def sim(proc_attr, base_attr):
            return lambda: (getattr(self, proc_attr), getattr(self, base_attr))

        if self.selected("redis_bench"):
            log("redis-benchmark -t get,set")
            try:
                self.refs["redis"] = self.redis_benchmark()
            except BenchError as e:
                self.refs["redis"] = {"failed": str(e)}
        nginx = Fixed(self, "ref_nginx", "nginx return 200", "nginx", self.start_nginx, sess, null)
        nginx.children = True
        run_group(self, [
            nginx,
            Fixed(self, "anon", "anonymous", "wxsessiond", lambda: wx("wxs-anon", "redis"), sess,
                  null),
            Fixed(self, "code_redis", "code-only (Redis)", "wxsessiond",
                  lambda: wx("wxs-code-redis", "redis"), sess, '"openId"', user="bench-code-redis"),
            *self.cluster_code_rows(sess),
            Fixed(self, "code_sqlite", "code-only (SQLite)", "wxsessiond",
                  lambda: wx("wxs-code-sqlite", "sqlite"), sess, '"openId"',
                  user="bench-code-sqlite"),
            *self.bearer_rows(sess),
            *self.compare_rows(sess),
            Fixed(self, "node_anon", "anonymous", "node", node, sess, null),
            Fixed(self, "node_code", "code-only (Redis)", "node", node, sess, '"openId"',
                  user="bench-code-node"),
        ])
        run_group(self, [
            Dynamic(self, "ref_exchange", "simulator jscode2session", "simulator",
                    sim("sim", "sim_base"), "/", "exchange", exchange_args(self.logins), 40000.0,
                    owns=False),
            self.noted(Dynamic(self, "login_redis", "login (Redis)", "wxsessiond",
                               lambda: wx("wxs-login-redis", "redis"), sess, "login",
                               logins(self.logins), 15000.0), WAIT_AUTO_SINGLE),
            *self.cluster_login_rows(sess, logins(self.logins)),
            Dynamic(self, "login_sqlite", "login (SQLite)", "wxsessiond",
                    lambda: wx("wxs-login-sqlite", "sqlite"), sess, "login", logins(self.logins),
                    5000.0),
            *self.token_login_rows(token_logins(self.logins)),
            Dynamic(self, "node_login", "login (Redis)", "node", node, sess, "login",
                    logins(self.logins), 3000.0),
        ])
        self.stop_cluster()
        bound = self.latency_bound()
        run_group(self, [
            Dynamic(self, "ref_exchange_lat", f"simulator jscode2session, {lat}", "simulator",
                    sim("slow_sim", "slow_sim_base"), "/", "exchange",
                    exchange_args(self.slow_logins), bound, owns=False),
            Dynamic(self, "login_redis_lat", f"login (Redis), {lat}", "wxsessiond",
                    lambda: wx("wxs-login-redis-lat", "redis", sim_base=slow), sess, "login",
                    logins(self.slow_logins), bound),
            Dynamic(self, "login_sqlite_lat", f"login (SQLite), {lat}", "wxsessiond",
                    lambda: wx("wxs-login-sqlite-lat", "sqlite", sim_base=slow), sess, "login",
                    logins(self.slow_logins), bound),
            Dynamic(self, "node_login_lat", f"login (Redis), {lat}", "node",
                    lambda: node(slow), sess, "login", logins(self.slow_logins), bound),
        ])
        paints = "/applet/session/paints/"
        run_group(self, [
            Dynamic(self, "paints_save", "paints save (SQLite)", "wxsessiond",
                    lambda: wx("wxs-paints-save", "sqlite"), paints + "save", "save", save_args,
                    5000.0, user="painter-save"),
        ])
        listing = Fixed(self, "paints_list", "paints list, 10k drawings (SQLite)", "wxsessiond",
                        lambda: wx("wxs-paints-list", "sqlite"), paints + "list?limit=20",
                        '"code":0', user="painter-list", seed=seed)
        listing.note = f"{LIST_SEED:,} drawings, first page of 20"
        run_group(self, [listing])
        if any(self.selected(sid) for sid in GATEWAY_IDS):
            try:
                run_group(self, self.gateway_rows())
            finally:
                self.stop_gateway()
        if a.pinned:
            pin_nginx = Fixed(self, "pin_nginx", "nginx return 200, pinned", "nginx",
                              lambda: self.start_nginx(cpu="1"), sess, null, wrk_cpu="0")
            pin_nginx.children = True
            run_group(self, [
                pin_nginx,
                Fixed(self, "pin_code_redis", "code-only (Redis), pinned", "wxsessiond",
                      lambda: wx("wxs-code-pinned", "redis", cpu="1"), sess, '"openId"',
                      user="bench-code-pinned", wrk_cpu="0"),
            ])

    def stop_cluster(self):
        """After the cluster rows: their cluster's shape (a failover?) for the report, then the
        nodes stopped, so that the later groups run without them."""
        if self.cluster is None:
            return
        self.refs["cluster"] = self.cluster.summary()
        self.cluster.stop()

    @staticmethod
    def noted(scenario, note):
        """scenario with its note (shown in the report) set; for rows built inside a list."""
        scenario.note = note
        return scenario

    def start_on_cluster(self, name, wait_replicas=None):
        """wxsessiond with store redis on the bench's Redis Cluster; wait_replicas: an explicit
        --redis-wait-replicas (None: the default, auto)."""
        if self.cluster.failed:
            raise BenchError(f"no Redis Cluster: {self.cluster.failed}")
        extra = [f"--redis-cluster={self.cluster.seeds()}"]
        if wait_replicas is not None:
            extra.append(f"--redis-wait-replicas={wait_replicas}")
        return self.start_wxsessiond(name, "redis", extra=extra)

    def cluster_code_rows(self, sess):
        """code-only on the 3-primary Redis Cluster, in the same group (rounds) as the
        single-Redis code-only row, its reference."""
        if self.cluster is None:
            return []
        return [self.noted(
            Fixed(self, "code_cluster", "code-only (Redis Cluster)", "wxsessiond",
                  lambda: self.start_on_cluster("wxs-code-cluster"), sess, '"openId"',
                  user="bench-code-cluster"),
            "lookups are GETs on the key's primary: WAIT does not apply")]

    def cluster_login_rows(self, sess, make_args):
        """login on the Redis Cluster with the default WAIT (1 replica) and with
        --redis-wait-replicas=0, in the same group as the single-Redis login row."""
        if self.cluster is None:
            return []
        return [
            self.noted(Dynamic(self, "login_cluster", "login (Redis Cluster)", "wxsessiond",
                               lambda: self.start_on_cluster("wxs-login-cluster"), sess, "login",
                               make_args, 8000.0), WAIT_AUTO_CLUSTER),
            self.noted(Dynamic(self, "login_cluster_wait0", "login (Redis Cluster, waitReplicas 0)",
                               "wxsessiond",
                               lambda: self.start_on_cluster("wxs-login-cluster-wait0", 0), sess,
                               "login", make_args, 10000.0),
                       "--redis-wait-replicas=0: acknowledged once the primaries have the writes"),
        ]

    def starter(self, name, store):
        """A scenario's start(): wxsessiond named name on store."""
        return lambda: self.start_wxsessiond(name, store)

    def bearer_rows(self, sess):
        """The token protocol's lookup: GET /session with "Authorization: Bearer <token>" of a
        user logged in once through POST /login, in the same group (rounds) as the code-only row
        of its store, its reference."""
        return [
            self.noted(Fixed(self, f"bearer_{store}", f"Bearer lookup ({name})", "wxsessiond",
                             self.starter(f"wxs-bearer-{store}", store), sess, '"openId"',
                             user=f"bench-bearer-{store}", bearer=True),
                       "one token, logged in through POST /login with rawData; no renewal "
                       "write in the run")
            for store, name in (("redis", "Redis"), ("sqlite", "SQLite"))]

    def token_login_rows(self, make_args):
        """The token protocol's login: POST /login {"code"} with a fresh code per request, in
        the same group as the legacy login row of its store, its reference."""
        return [
            self.noted(Dynamic(self, f"login_token_{store}", f"login via /login ({name})",
                               "wxsessiond", self.starter(f"wxs-login-token-{store}", store),
                               "/applet/login", "login_token", make_args, estimate),
                       "code only, no rawData; 10,000 users: once one holds 10 sessions "
                       "(tokensPerUser), each login of it also ends its oldest")
            for store, name, estimate in (("redis", "Redis", 15000.0),
                                          ("sqlite", "SQLite", 5000.0))]

    def compare_rows(self, sess):
        """With --compare-bin: the code-only rows again on the other build, in the same group
        (so in the same rounds) as this build's."""
        other = self.args.compare_bin
        if not other:
            return []
        label = self.args.compare_label
        return [
            Fixed(self, "cmp_code_redis", f"code-only (Redis), {label}", "wxsessiond",
                  lambda: self.start_wxsessiond("wxs-cmp-redis", "redis", binary=other), sess,
                  '"openId"', user="bench-cmp-redis"),
            Fixed(self, "cmp_code_sqlite", f"code-only (SQLite), {label}", "wxsessiond",
                  lambda: self.start_wxsessiond("wxs-cmp-sqlite", "sqlite", binary=other), sess,
                  '"openId"', user="bench-cmp-sqlite"),
        ]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=int, default=10, help="seconds per measured run (10)")
    p.add_argument("--runs", type=int, default=3, help="measured runs per scenario (3)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up seconds before the runs (2)")
    p.add_argument("--check", type=int, default=2, help="seconds of the body-checked run (2)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    p.add_argument("--workers", type=int, default=2, help="server workers, nginx too (2)")
    p.add_argument("--wechat-latency-ms", type=int, default=20,
                   help="jscode2session latency of the second simulator (20)")
    p.add_argument("--redis-requests", type=int, default=300000, help="per redis-benchmark run")
    p.add_argument("--no-pinned", dest="pinned", action="store_false",
                   help="skip the taskset rows (server on cpu 1, wrk on cpu 0)")
    p.add_argument("--quick", action="store_true", help="development pass: -d3s, 1 run")
    p.add_argument("--only", action="append",
                   help="run the scenarios whose id holds this (=ID: that id alone)")
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "out"), help="output folder")
    p.add_argument("--node-src", default=NODE_SRC,
                   help="the Node baseline to compare with (../shared/baseline-node); "
                        "when it is missing the Node rows are skipped")
    p.add_argument("--compare-bin", help="another wxsessiond build (e.g. an earlier commit's): "
                   "its code-only rows run beside this build's, in the same rounds")
    p.add_argument("--compare-label", default="compared build",
                   help="how the report names --compare-bin's rows")
    p.add_argument("--memory", action="store_true", help="run the memory check instead")
    p.add_argument("--memory-sessions", type=int, default=1000000)
    p.add_argument("--memory-minutes", type=float, default=10.0, help="load length (10)")
    p.add_argument("--report-only", action="store_true", help="rebuild report from the JSON")
    p.add_argument("--publish", action="store_true",
                   help="copy out/report.md + chart.svg to docs/benchmarks.md + .svg")
    a = p.parse_args(argv)
    if a.quick:
        a.duration, a.runs, a.warmup, a.check, a.redis_requests = 3, 1, 1, 1, 100000
    return a


def command_line(args):
    if args.memory:
        return "make bench-memory" if args.memory_minutes == 10 else " ".join(sys.argv)
    plain = not (args.quick or args.only) and args.duration == 10 and args.runs == 3
    return "make bench" if plain else "bench/run.py " + " ".join(sys.argv[1:])


def main(argv):
    args = parse_args(argv)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    if args.publish:
        report.publish(out, os.path.join(REPO_DIR, "docs"))
        return 0
    if args.report_only:
        report.write_all(out)
        return 0
    install_signal_handlers()
    ensure_packages()
    binary = build(out)
    meta = {"machine": machine_description(), "command": command_line(args),
            "date": time.strftime("%Y-%m-%d %H:%M %Z"), "git": report.git_describe(),
            "wrk": f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s",
            "runs": args.runs, "workers": args.workers, "duration": args.duration,
            "connections": args.connections, "threads": args.threads,
            "wechat_latency_ms": args.wechat_latency_ms}
    if args.memory:
        import memory
        result = memory.run(args, out, binary, meta)
        with open(os.path.join(out, "memory.json"), "w") as f:
            json.dump(result, f, indent=1)
    else:
        node_dir = prepare_node(out, os.path.abspath(args.node_src))
        suite = Suite(args, out, binary, node_dir)
        try:
            suite.start_infra()
            suite.run()
        finally:
            suite.sup.stop_all()
        meta["machine"]["load_after"] = open("/proc/loadavg").read().split()[:3]
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump({"meta": meta, "scenarios": suite.results, "refs": suite.refs}, f, indent=1)
    text = report.write_all(out)
    print(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        log(f"failed: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted; every started process was stopped")
        sys.exit(130)
