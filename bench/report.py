"""report.py: turns bench/out/results.json (and memory.json) into report.md and chart.svg, checks
the project's performance targets, and publishes the pair to docs/benchmarks.{md,svg}."""

import json
import os
import shutil
import subprocess
from html import escape

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Which reference each scenario is measured against, and the performance targets.
REFERENCE = {
    "anon": "ref_nginx", "code_redis": "ref_nginx", "code_sqlite": "ref_nginx",
    "login_redis": "ref_exchange", "login_sqlite": "ref_exchange",
    "node_anon": "ref_nginx", "node_code": "ref_nginx", "node_login": "ref_exchange",
    "pin_code_redis": "pin_nginx", "login_redis_lat": "ref_exchange_lat",
    "node_login_lat": "ref_exchange_lat", "login_sqlite_lat": "ref_exchange_lat",
    # the Redis Cluster rows against the single-Redis row of the same kind, same rounds
    "code_cluster": "code_redis", "login_cluster": "login_redis",
    "login_cluster_wait0": "login_redis",
    # the token protocol's rows against the compatible protocol's row of the same store and kind,
    # same rounds
    "bearer_redis": "code_redis", "bearer_sqlite": "code_sqlite",
    "login_token_redis": "login_redis", "login_token_sqlite": "login_sqlite",
    # the gateway: through auth_request against straight to the backend, same nginx and rounds
    "gw_auth": "gw_direct",
}
NODE_TWIN = {"anon": "node_anon", "code_redis": "node_code", "login_redis": "node_login",
             "login_redis_lat": "node_login_lat"}
REF_SHORT = {"ref_nginx": "nginx", "ref_exchange": "simulator", "pin_nginx": "nginx pinned",
             "ref_exchange_lat": "simulator", "code_redis": "single Redis",
             "login_redis": "single Redis"}
# a scenario whose reference needs other names than REF_SHORT's and REF_NAME's
REF_SHORT_OF = {"bearer_redis": "X-WX-Code", "bearer_sqlite": "X-WX-Code",
                "login_token_redis": "legacy login", "login_token_sqlite": "legacy login",
                "gw_auth": "no auth"}
REF_NAME_OF = {"bearer_redis": "code-only (X-WX-Code), Redis",
               "bearer_sqlite": "code-only (X-WX-Code), SQLite",
               "login_token_redis": "legacy login (headers), Redis",
               "login_token_sqlite": "legacy login (headers), SQLite",
               "gw_auth": "nginx -> backend, no auth"}
REF_NAME = {"ref_nginx": "nginx return 200", "ref_exchange": "simulator exchange",
            "pin_nginx": "nginx, pinned", "ref_exchange_lat": "simulator exchange",
            "code_redis": "code-only, single Redis", "login_redis": "login, single Redis",
            "code_sqlite": "code-only, SQLite", "login_sqlite": "login, SQLite"}
TOKEN_IDS = ("bearer_redis", "bearer_sqlite", "login_token_redis", "login_token_sqlite")
CLUSTER_IDS = ("code_cluster", "login_cluster", "login_cluster_wait0")
GATEWAY_IDS = ("gw_direct", "gw_auth")
# what redis.waitReplicas (auto) does in the login rows, shown beside them when the run has
# Redis Cluster rows
WAIT_TAG = {"login_redis": "no WAIT (auto: 0, no replica)",
            "login_cluster": "WAIT 1 per session write (auto: 1)"}
# (scenario, kind, bound, label): kind ref = ratio to its reference >= bound; node = ratio to the
# Node twin >= bound; p99 = p99 in ms <= bound.
TARGETS = [
    ("code_redis", "node", 10.0, ">= 10x Node"),
    ("code_redis", "ref", 0.60, ">= 60% nginx"),
    ("code_redis", "p99", 2.0, "p99 <= 2 ms"),
    ("code_sqlite", "ref", 0.75, ">= 75% nginx"),
    ("login_redis", "ref", 0.90, ">= 90% simulator"),
    ("login_sqlite", "ref", 0.90, ">= 90% simulator"),
    ("login_redis_lat", "ref", 0.90, ">= 90% simulator"),
    ("login_sqlite_lat", "ref", 0.90, ">= 90% simulator"),
    ("bearer_redis", "ref", 0.90, ">= 90% code-only"),
    ("bearer_sqlite", "ref", 0.90, ">= 90% code-only"),
]
SYSTEM_LABEL = {"wxsessiond": "wxsessiond", "node": "Node baseline", "nginx": "nginx",
                "simulator": "simulator"}


def git_describe():
    """Short commit id of the tree, with -dirty when it has changes."""
    try:
        out = subprocess.run(["git", "-C", REPO_DIR, "describe", "--always", "--dirty"],
                             capture_output=True, text=True)
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def kreq(v):
    return f"{v / 1000:.1f}k" if v >= 1000 else f"{v:.0f}"


def mib(kb):
    return f"{kb / 1024:.1f} MiB" if kb else "n/a"


def pct(r):
    return f"{r * 100:.0f}%" if r < 2 else f"{r:.1f}x"


class Results:
    """results.json with lookups by scenario id and the derived ratios."""

    def __init__(self, data):
        self.meta = data["meta"]
        self.refs = data.get("refs", {})
        self.list = data["scenarios"]
        self.by_id = {s["id"]: s for s in self.list}

    def ok(self, sid):
        s = self.by_id.get(sid)
        return s is not None and "rps" in s

    def ratio_ref(self, sid):
        ref = REFERENCE.get(sid)
        if self.ok(sid) and ref and self.ok(ref) and self.by_id[ref]["rps"]:
            return self.by_id[sid]["rps"] / self.by_id[ref]["rps"]
        return None

    def ratio_node(self, sid):
        twin = NODE_TWIN.get(sid)
        if self.ok(sid) and twin and self.ok(twin) and self.by_id[twin]["rps"]:
            return self.by_id[sid]["rps"] / self.by_id[twin]["rps"]
        return None

    def target_checks(self, sid):
        """[(label, value text, met)] for sid's targets, 0 errors included."""
        out = []
        s = self.by_id.get(sid)
        for tsid, kind, bound, label in TARGETS:
            if tsid != sid:
                continue
            if kind == "ref":
                v = self.ratio_ref(sid)
                out.append((label, "n/a" if v is None else pct(v), v is not None and v >= bound))
            elif kind == "node":
                v = self.ratio_node(sid)
                out.append((label, "n/a" if v is None else f"{v:.1f}x",
                            v is not None and v >= bound))
            else:
                v = s["p99_ms"] if self.ok(sid) else None
                out.append((label, "n/a" if v is None else f"{v:.2f} ms",
                            v is not None and v <= bound))
        if s is not None:
            errors = s.get("errors")
            out.append(("0 errors", "failed" if errors is None else str(errors), errors == 0))
        return out


def results_table(r):
    lines = ["| scenario | server | req/s (median) | p50 | p99 | errors | peak RSS | reference "
             "| ratio | vs Node | target | met? |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | --- |"]
    tagged = any(sid in r.by_id for sid in CLUSTER_IDS)
    for s in r.list:
        sid = s["id"]
        system = SYSTEM_LABEL.get(s["system"], s["system"])
        title = s["title"] + (f": {WAIT_TAG[sid]}" if tagged and sid in WAIT_TAG else "")
        if "failed" in s:
            lines.append(f"| {title} | {system} | failed: {s['failed'][:120]} "
                         "| | | | | | | | | no |")
            continue
        ref = REFERENCE.get(sid)
        ref_name = REF_NAME_OF.get(sid) or REF_NAME.get(ref)
        ref_text = f"{ref_name} ({kreq(r.by_id[ref]['rps'])})" if ref and r.ok(ref) else "-"
        if sid.startswith("paints"):
            ref_text = "none (Node has no paints routes)"
        ratio = r.ratio_ref(sid)
        node = r.ratio_node(sid)
        checks = r.target_checks(sid)
        named = [c for c in checks if c[0] != "0 errors"]
        target = ", ".join(c[0] for c in named) + (", " if named else "") + "0 errors"
        missed = [f"{c[0]}: {c[1]}" for c in checks if not c[2]]
        met = "yes" if not missed else "**no** (" + "; ".join(missed) + ")"
        if sid.startswith("ref_") or sid == "pin_nginx":
            ref_text, target = "-", "0 errors"
        lines.append(
            f"| {title} | {system} | {s['rps']:,.0f} | {s['p50_ms']:.2f} ms "
            f"| {s['p99_ms']:.2f} ms | {s['errors']} | {mib(s.get('rss_kb', 0))} | {ref_text} "
            f"| {pct(ratio) if ratio is not None else '-'} "
            f"| {f'{node:.1f}x' if node is not None else '-'} | {target} | {met} |")
    return "\n".join(lines)


def redis_table(r):
    red = r.refs.get("redis")
    if not red:
        return ""
    if "failed" in red:
        return f"redis-benchmark failed: {red['failed']}\n"
    lines = ["| redis-benchmark | req/s (median) | p50 | p99 |", "| --- | ---: | ---: | ---: |"]
    for cmd in ("GET", "SET"):
        a = red[cmd]
        lines.append(f"| {cmd} | {a['rps']:,.0f} | {a['p50_ms']:.2f} ms | {a['p99_ms']:.2f} ms |")
    return "\n".join(lines) + "\n"


def runs_table(r):
    lines = ["| scenario | server | req/s of each run | requests | checked answers | note |",
             "| --- | --- | --- | ---: | ---: | --- |"]
    for s in r.list:
        if "rps" not in s:
            continue
        runs = ", ".join(f"{v:,.0f}" for v in s["rps_runs"])
        checked = s.get("check_requests")
        checked = f"{checked:,} (extra run)" if checked is not None else "every answer"
        lines.append(f"| {s['title']} | {SYSTEM_LABEL.get(s['system'], s['system'])} | {runs} "
                     f"| {s['requests']:,} | {checked} | {s.get('note', '')} |")
    return "\n".join(lines)


def targets_summary(r):
    rows = ["| target | measured | met? |", "| --- | --- | --- |"]
    met = total = 0
    for tsid, _kind, _bound, label in TARGETS:
        if tsid not in r.by_id:
            continue
        for lab, value, ok in r.target_checks(tsid):
            if lab != label:
                continue
            total += 1
            met += ok
            rows.append(f"| {r.by_id[tsid]['title']}: {label} | {value} | "
                        f"{'yes' if ok else '**no**'} |")
    err_bad = [s["title"] + f" ({SYSTEM_LABEL.get(s['system'], s['system'])})" for s in r.list
               if s.get("errors") != 0]
    total += 1
    met += not err_bad
    rows.append(f"| 0 errors in every scenario | {'all 0' if not err_bad else ', '.join(err_bad)}"
                f" | {'yes' if not err_bad else '**no**'} |")
    return met, total, "\n".join(rows)


def machine_lines(m):
    return (f"- CPU: {m['nproc']} cores (`nproc`), {m['cpu']}\n"
            f"- memory: {m['memory_gib']} GiB; {m['os']}, Linux {m['kernel']}\n"
            f"- wrk {m['wrk']}, nginx {m['nginx'].replace('nginx/', '')}, redis {m['redis']}, "
            f"node {m['node']}\n"
            f"- load average before the run: {' '.join(m['load_before'])}"
            + (f", after: {' '.join(m['load_after'])}" if m.get("load_after") else "")
            + " (anything above 0 is other work sharing the cores: the figures are lower "
            "and noisier then)\n")


def method_lines(meta):
    return (
        f"- Every scenario: `{meta['wrk']}` on loopback, {meta['runs']} measured runs after a "
        "warm-up; req/s is the median of the runs, p50/p99 the median of the runs' percentiles. "
        "wrk, the server, redis-server and the simulator share the same cores. The scenarios "
        "of a group (nginx + anonymous + code-only + Node; simulator exchange + logins; the "
        "same with WeChat latency; the pinned pair) run round-robin, run 1 of each, then run "
        "2..., with all their servers started up front, so a change in the machine's load hits "
        "a scenario and its reference alike.\n"
        f"- wxsessiond and nginx run {meta['workers']} workers (nginx `worker_processes "
        f"{meta['workers']}`, `listen ... reuseport`, `access_log off`, `return 200 "
        "'{\"wxUserInfo\":null}'`). Each scenario starts its own server, so its peak RSS "
        "(`VmHWM`, nginx: master + workers) belongs to that scenario alone.\n"
        "- errors = wrk socket errors + HTTP statuses >= 400 + wrong answers. Scenarios with a "
        "fixed request (nginx, anonymous, code-only, paints list) run without Lua hooks and then "
        "one extra short run checks every answer body (protocol error key "
        "`F2C224D4-...` absent, expected field present); scenarios with changing requests "
        "(login, exchange, save) check every answer of every run.\n"
        "- login: each request carries a fresh code and its signed rawData (precomputed from the "
        "simulator right before each run, every code used once, 10,000 test users); the "
        "simulator reference is wrk on its `jscode2session` with the same kind of codes.\n"
        f"- login with WeChat latency (rows marked \"WeChat {meta.get('wechat_latency_ms', 20)} "
        "ms\"): the same "
        "login path against a second simulator that answers `jscode2session` after that "
        "delay (`--simulator-latency-ms`, a stand-in for the round trip to WeChat, whose real "
        "latency is not known here). With 64 connections this bounds the exchange rate at "
        "connections / latency, so the ratio shows what the server adds on top of WeChat; "
        "the zero-latency rows show the CPU cost on the shared cores instead.\n"
        "- paints save: each request saves a new drawing (about 1.5 KB of `actions`); paints "
        "list: first page (limit 20) of a user holding 10,000 drawings. Paints live in SQLite.\n"
        "- Node baseline: `../shared/baseline-node` (Express 5 + node-redis), same Redis, same "
        "simulator; it has no paints routes.\n"
        "- pinned rows: the server (wxsessiond or nginx) on cpu 1 with `taskset`, wrk on cpu 0, "
        "redis-server unpinned.\n"
        "- redis-benchmark: `-t get,set -c 64 -d 300` (a session's size) against the same "
        "redis-server.\n")


def cluster_lines(r):
    """The Redis Cluster rows' method and WAIT, when the run had them ("" otherwise)."""
    if not any(sid in r.by_id for sid in CLUSTER_IDS):
        return ""
    c = r.refs.get("cluster", {})
    shape = "unknown"
    if "failed" in c:
        shape = f"the cluster did not start ({c['failed'][:200]})"
    elif c:
        shape = ("none (the same primaries at the end, cluster_state ok)"
                 if not c["failover"] and c["healthy_at_end"] else
                 f"**yes** (primaries {c['primaries_at_start']} at the start, "
                 f"{c['primaries_at_end']} at the end; healthy at the end: "
                 f"{c['healthy_at_end']})")
    return (
        "- Redis Cluster rows: the same wxsessiond with `--redis-cluster=` three of the nodes of "
        f"a {c.get('primaries', 3)}-primary + {c.get('primaries', 3)}-replica Redis Cluster "
        "(Debian's redis-server, loopback, no persistence, `cluster-node-timeout "
        f"{c.get('node_timeout_ms', '?')}`, made by `redis-cli --cluster create "
        "--cluster-replicas 1`), started beside the single redis-server, on the same cores. "
        "Each is in the group of the single-Redis row of its kind (code-only with code-only, "
        "login with login), so both are measured round-robin in the same rounds, and that "
        "row is its reference: the ratio is the cluster's rate over the single Redis's. "
        f"Failover during the run: {shape}.\n"
        "- WAIT: `redis.waitReplicas` is left at its default, -1 (auto), in every row. On the "
        "cluster auto means 1: each session write of a login (the code's record, the openId's "
        "pointer, the replaced code's delete) is acknowledged only after `WAIT 1` on its "
        "primary, so a login waits for a replica's acknowledgement of each of its writes in "
        "turn. On the single Redis auto means 0 (no replica): no WAIT. The row \"login (Redis "
        "Cluster, waitReplicas 0)\" runs with `--redis-wait-replicas=0`, so the gap between "
        "the two cluster login rows is what WAIT costs. Code-only lookups are GETs on the "
        "key's primary, which WAIT does not touch.\n")


def token_lines(r):
    """The token protocol's rows' method, when the run had them ("" otherwise)."""
    if not any(sid in r.by_id for sid in TOKEN_IDS):
        return ""
    return (
        "- Bearer lookup rows: `GET /applet/session` with `Authorization: Bearer <token>`, the "
        "token of one user logged in once through `POST /applet/login` (code, rawData, signature: "
        "the same user info as the code-only row's) before the runs; each "
        "is in the group of the code-only row of its store (same rounds) and that row is its "
        "reference, target >= 90%. A look-up is a read: the session is renewed at most once "
        "per eighth of the idle time (21 hours by default), so no run writes.\n"
        "- login via /login rows: `POST /applet/login` `{\"code\": ...}`, a fresh simulator "
        "code per request, each used once (the same precomputed logins as the legacy rows, "
        "without rawData and signature); a good answer holds `\"token\"`. Each is in the "
        "group of the legacy login row of its store (same rounds), its reference. A login "
        "makes a 256-bit token, stores the record under its SHA-256 and adds it to the user's "
        "index; once one of the 10,000 test users holds `session.tokensPerUser` (10) sessions, "
        "each further login of it also ends its oldest (the Redis row's sessions carry over "
        "from run to run on the shared redis-server; the SQLite row has its own database).\n")


def gateway_lines(r):
    """The gateway pair's method and the latency auth_request adds, when the run had them."""
    if not any(sid in r.by_id for sid in GATEWAY_IDS):
        return ""
    text = (
        "- Gateway rows (docs/gateway.md): one nginx; `GET /direct/items` is proxied straight "
        "to the backend, `GET /auth/items` first goes through `auth_request` to wxsessiond's "
        "`/__auth` (a Bearer token of one user, looked up on Redis; the subrequest carries "
        "headers only) and then to the same backend with `X-WX-OpenId`. The backend is a "
        "`return 200` server block of the same nginx (its answer echoes the openId, which the "
        "checked run wants), so no application code is measured; keep-alive on every upstream. "
        "Both rows are in one group (same rounds); the direct row is the auth row's reference.\n")
    if r.ok("gw_direct") and r.ok("gw_auth"):
        d, a = r.by_id["gw_direct"], r.by_id["gw_auth"]
        text += (f"- Gateway: auth_request adds {a['p50_ms'] - d['p50_ms']:.2f} ms at p50 and "
                 f"{a['p99_ms'] - d['p99_ms']:.2f} ms at p99 under this load; the auth path "
                 f"serves {pct(r.ratio_ref('gw_auth'))} of the direct path's requests per "
                 "second.\n")
    return text


def memory_section(mem):
    if mem is None:
        return ""
    if "failed" in mem:
        return f"\n## Memory check\n\nFailed: {mem['failed']}\n"
    out = ["\n## Memory check (`" + mem["command"] + "`)\n"]
    out.append(f"Run {mem['date']}. SQLite store; sessions written straight into the store's "
               "table (`kv`, key `weapp-session:<code>`, value the user JSON with `openId`) "
               "while wxsessiond was stopped; code-only lookups of random codes from the set "
               f"(`{mem['wrk']}`, median of {mem['runs']}). Load average before: "
               f"{' '.join(mem['machine']['load_before'])}.\n")
    out.append("| sessions | req/s (median) | p50 | p99 | errors | RSS after | RssAnon after "
               "| peak RSS |")
    out.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in mem["sizes"]:
        if "failed" in row:
            out.append(f"| {row['sessions']:,} | failed: {row['failed']} | | | | | | |")
            continue
        out.append(f"| {row['sessions']:,} | {row['rps']:,.0f} | {row['p50_ms']:.2f} ms "
                   f"| {row['p99_ms']:.2f} ms | {row['errors']} | {mib(row['rss_kb'])} "
                   f"| {mib(row['anon_kb'])} | {mib(row['hwm_kb'])} |")
    checks = mem.get("checks", [])
    if checks:
        out.append("\n| check | measured | met? |\n| --- | --- | --- |")
        for label, value, ok in checks:
            met = "-" if ok is None else "yes" if ok else "**no**"
            out.append(f"| {label} | {value} | {met} |")
    load = mem.get("load")
    if load and "samples" in load:
        out.append(f"\nLoad: {load['minutes']:g} minutes of code-only lookups over "
                   f"{load['sessions']:,} sessions ({load['requests']:,} requests, "
                   f"{load['rps']:,.0f} req/s, errors {load['errors']}) and, at the same time, "
                   f"logins through a simulator with {load['login_latency_ms']} ms latency "
                   f"(4 connections: {load['login_requests']:,} logins, "
                   f"{load['login_rps']:,.0f}/s, errors {load['login_errors']}). RSS of "
                   "wxsessiond (MiB, VmRSS / RssAnon), sampled every "
                   f"{load['interval_s']} s, shown once a minute:\n")
        samples = load["samples"]
        step = max(1, 60 // load["interval_s"])
        samples = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
        cells = [f"{s['t']:.0f}s {s['rss_kb'] / 1024:.1f}/{s['anon_kb'] / 1024:.1f}"
                 for s in samples]
        for i in range(0, len(cells), 6):
            out.append("    " + "   ".join(cells[i:i + 6]))
        out.append("\nA leak grows steadily; a bounded cache fills once and shows as one step. "
                   "The bounded caches here: the SQLite writer's page cache (about 2 MiB by "
                   "default) and the remembered code exchanges, kept 300 s and then deleted by "
                   "the store's purge (every 60 s).")
    return "\n".join(out) + "\n"


LOGIN_NOTE = (
    "How to read the login targets. The bound for logins is meant to be WeChat (\"the WeChat side "
    "is the bound\"). In the rows marked \"WeChat 20 ms\" it is: the simulator answers after "
    "20 ms, 64 connections cap the exchange rate, and the ratio shows what wxsessiond adds on top "
    "of WeChat. In the zero-latency rows the bound is the two shared cores instead: the simulator "
    "serving the exchanges, wrk, Redis and wxsessiond all run on them, and one login costs the "
    "simulator's whole exchange plus wxsessiond's own work for it (a request parsed, an HTTPS-"
    "capable client request through libcurl, the reply and rawData parsed, the signature checked, "
    "two store writes, the answer), so a login cannot come near the simulator's own rate there; "
    "those rows measure the CPU cost of a login, and are listed as not met.\n")


def report_markdown(r, mem, chart_name):
    meta = r.meta
    met, total, targets = targets_summary(r)
    parts = [
        "# wxsession benchmarks\n",
        f"Generated by `{meta['command']}` on {meta['date']} (tree `{meta['git']}`). "
        "The raw outputs stay in the git-ignored `bench/out/`.\n",
        "## Machine\n", machine_lines(meta["machine"]),
        "## Method\n", method_lines(meta) + cluster_lines(r) + token_lines(r) + gateway_lines(r),
        f"## Targets: {met} of {total} met\n", targets, "", LOGIN_NOTE,
        "## Results\n", results_table(r), "",
        f"![req/s per scenario with reference bars]({chart_name})\n",
        "## References\n",
        "nginx and the simulator are in the table above; Redis alone:\n", redis_table(r),
        "## Runs\n", runs_table(r),
    ]
    return "\n".join(parts) + "\n" + memory_section(mem)


# ---- the chart

COLORS = {"wxsessiond": "#2563eb", "nginx": "#9ca3af", "node": "#f59e0b", "simulator": "#10b981",
          "redis": "#ef4444"}


def chart_groups(r):
    """[(group title, [(label, system, rps, note)])] in report order."""
    def bar(sid, label=None, note=""):
        if not r.ok(sid):
            return None
        s = r.by_id[sid]
        if s["system"] == "node" and not note:
            note = node_note(sid)
        return (label or SYSTEM_LABEL.get(s["system"], s["system"]), s["system"], s["rps"], note)

    def node_note(sid):
        twin = {v: k for k, v in NODE_TWIN.items()}.get(sid)
        v = r.ratio_node(twin) if twin else None
        return f"wxsessiond is {v:.1f}x" if v is not None else ""

    def ratio_note(sid):
        v = r.ratio_ref(sid)
        short = REF_SHORT_OF.get(sid) or REF_SHORT[REFERENCE[sid]]
        return f"{pct(v)} of {short}" if v is not None else ""

    groups = [
        ("anonymous", [bar("anon", note=ratio_note("anon")), bar("ref_nginx"),
                       bar("node_anon")]),
        ("code-only, Redis", [bar("code_redis", note=ratio_note("code_redis")),
                              bar("ref_nginx"), bar("node_code")]),
        ("code-only, SQLite", [bar("code_sqlite", note=ratio_note("code_sqlite")),
                               bar("ref_nginx")]),
        ("login, Redis", [bar("login_redis", note=ratio_note("login_redis")),
                          bar("ref_exchange", "simulator exchange"), bar("node_login")]),
        ("login, SQLite", [bar("login_sqlite", note=ratio_note("login_sqlite")),
                           bar("ref_exchange", "simulator exchange")]),
        ("code-only, Redis Cluster (3 primaries)",
         [bar("code_cluster", "Redis Cluster", ratio_note("code_cluster")),
          bar("code_redis", "single Redis")]),
        ("login, Redis Cluster (3 primaries)",
         [bar("login_cluster", "Cluster, WAIT 1", ratio_note("login_cluster")),
          bar("login_cluster_wait0", "Cluster, no WAIT", ratio_note("login_cluster_wait0")),
          bar("login_redis", "single Redis")]),
        ("Bearer token vs X-WX-Code, Redis",
         [bar("bearer_redis", "Bearer token", ratio_note("bearer_redis")),
          bar("code_redis", "X-WX-Code")]),
        ("Bearer token vs X-WX-Code, SQLite",
         [bar("bearer_sqlite", "Bearer token", ratio_note("bearer_sqlite")),
          bar("code_sqlite", "X-WX-Code")]),
        ("login: POST /login vs legacy, Redis",
         [bar("login_token_redis", "POST /login", ratio_note("login_token_redis")),
          bar("login_redis", "legacy (headers)")]),
        ("login: POST /login vs legacy, SQLite",
         [bar("login_token_sqlite", "POST /login", ratio_note("login_token_sqlite")),
          bar("login_sqlite", "legacy (headers)")]),
        (latency_title(r), [bar("login_redis_lat", note=ratio_note("login_redis_lat")),
                            bar("ref_exchange_lat", "simulator exchange"),
                            bar("node_login_lat")]),
        (latency_title(r).replace("Redis", "SQLite"),
         [bar("login_sqlite_lat", note=ratio_note("login_sqlite_lat")),
          bar("ref_exchange_lat", "simulator exchange")]),
        ("gateway: nginx auth_request vs direct",
         [bar("gw_auth", "through auth_request", ratio_note("gw_auth")),
          bar("gw_direct", "direct")]),
        ("paints save (SQLite)", [bar("paints_save")]),
        ("paints list, 10k drawings (SQLite)", [bar("paints_list")]),
        ("pinned: server cpu 1, wrk cpu 0", [bar("pin_code_redis", "wxsessiond code-only",
                                                 ratio_note("pin_code_redis")),
                                             bar("pin_nginx", "nginx")]),
    ]
    red = r.refs.get("redis")
    if red and "GET" in red:
        groups.append(("redis-benchmark (the store alone)",
                       [("redis GET", "redis", red["GET"]["rps"], ""),
                        ("redis SET", "redis", red["SET"]["rps"], "")]))
    return [(t, [b for b in bars if b]) for t, bars in groups if any(bars)]


def latency_title(r):
    s = r.by_id.get("login_redis_lat")
    return "login, Redis, " + (s["title"].split(", ", 1)[1] if s else "WeChat latency")


def chart_svg(r):
    """A hand-written horizontal bar chart: req/s per scenario, with its reference bars."""
    groups = chart_groups(r)
    width, left, bar_w, bar_h, gap = 1000, 190, 560, 18, 4
    top = 70
    peak = max([b[2] for _, bars in groups for b in bars] + [1])
    height = top + 20 + sum(26 + len(bars) * (bar_h + gap) + 10 for _, bars in groups) + 30
    meta = r.meta
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif" '
         'font-size="13">',
         f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
         f'<text x="16" y="26" font-size="18" font-weight="bold">wxsession: requests per second '
         f'(median of {meta["runs"]})</text>',
         f'<text x="16" y="46" fill="#4b5563">{escape(meta["wrk"])}, {meta["workers"]} '
         f'workers, {escape(meta["machine"]["nproc"])} cores shared by client and servers; '
         f'{escape(meta["date"])}; load average before: '
         f'{escape(meta["machine"]["load_before"][0])}</text>']
    x = 16
    for system, name in (("wxsessiond", "wxsessiond"), ("nginx", "nginx return 200"),
                         ("node", "Node baseline"), ("simulator", "simulator"),
                         ("redis", "redis-benchmark")):
        o.append(f'<rect x="{x}" y="{top - 6}" width="12" height="12" fill="{COLORS[system]}"/>')
        o.append(f'<text x="{x + 17}" y="{top + 4}" font-size="12">{name}</text>')
        x += 34 + 7 * len(name)
    top += 20
    # grid lines
    step = grid_step(peak)
    y_end = height - 30
    v = 0
    while v <= peak:
        x = left + v / peak * bar_w
        o.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{y_end}" '
                 'stroke="#e5e7eb"/>')
        o.append(f'<text x="{x:.1f}" y="{y_end + 16}" text-anchor="middle" fill="#6b7280" '
                 f'font-size="11">{kreq(v) if v else "0"}</text>')
        v += step
    y = top
    for title, bars in groups:
        y += 16
        o.append(f'<text x="16" y="{y}" font-weight="bold">{escape(title)}</text>')
        y += 10
        for label, system, rps, note in bars:
            w = max(1.0, rps / peak * bar_w)
            o.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{escape(label)}</text>')
            o.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                     f'fill="{COLORS.get(system, "#6b7280")}"/>')
            text = f"{rps:,.0f}" + (f"  ({note})" if note else "")
            o.append(f'<text x="{left + w + 6:.1f}" y="{y + 13}">{escape(text)}</text>')
            y += bar_h + gap
        y += 10
    o.append("</svg>")
    return "\n".join(o) + "\n"


def grid_step(peak):
    for step in (1000, 2000, 5000, 10000, 20000, 25000, 50000, 100000):
        if peak / step <= 8:
            return step
    return 10 ** len(str(int(peak)))


# ---- files

def load(out_dir, name):
    path = os.path.join(out_dir, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_all(out_dir):
    """Writes report.md and chart.svg from the JSON results; returns the Markdown."""
    data = load(out_dir, "results.json")
    mem = load(out_dir, "memory.json")
    if data is None:
        text = "# wxsession benchmarks\n" + memory_section(mem)
    else:
        r = Results(data)
        with open(os.path.join(out_dir, "chart.svg"), "w") as f:
            f.write(chart_svg(r))
        text = report_markdown(r, mem, "chart.svg")
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(text)
    return text


def publish(out_dir, docs_dir):
    """docs/benchmarks.md + docs/benchmarks.svg from the last run's report and chart."""
    text = write_all(out_dir)
    text = text.replace("](chart.svg)", "](benchmarks.svg)")
    with open(os.path.join(docs_dir, "benchmarks.md"), "w") as f:
        f.write(text)
    chart = os.path.join(out_dir, "chart.svg")
    if os.path.exists(chart):
        shutil.copyfile(chart, os.path.join(docs_dir, "benchmarks.svg"))
    print(f"wrote {os.path.join(docs_dir, 'benchmarks.md')} and benchmarks.svg")
