"""scenarios.py: one measured row of the report each: a server to start, a wrk run to repeat,
a check and the peak RSS. The suite runs the scenarios of a group round-robin (run 1 of each,
then run 2 of each...), so a drift in the machine's load hits a scenario and its reference
alike."""

from benchlib import (BenchError, aggregate, log, login_user, peak_rss_kb, token_login)

MAX_PRECOMPUTED = 900000  # the simulator keeps at most 1,000,000 live codes


class Scenario:
    """prepare() starts what the scenario needs, warm() runs the warm-up, run_once() one measured
    run, finish() the checks and the peak RSS, then stops the scenario's own processes. The suite
    calls stop() when any step failed."""

    def __init__(self, suite, sid, title, system, start, owns=True):
        self.suite = suite
        self.id = sid
        self.title = title
        self.system = system
        self.start = start  # () -> (Proc, base URL)
        self.owns = owns  # stop the process at the end (False: shared, e.g. the simulator)
        self.proc = None
        self.base = None
        self.runs = []
        self.note = ""
        self.children = False  # nginx: add the workers' peak RSS to the master's

    @property
    def args(self):
        return self.suite.args

    def stop(self):
        if self.proc is not None and self.owns:
            self.suite.sup.stop(self.proc)
        self.proc = None

    def result(self, extra=None):
        res = aggregate(self.runs)
        res["rss_kb"] = peak_rss_kb(self.proc.pid, self.children)
        res["runs"] = self.runs
        if self.note:
            res["note"] = self.note
        res.update(extra or {})
        return res


class Fixed(Scenario):
    """The same request every time (nginx, anonymous, code-only, paints list): measured runs
    without Lua hooks, then one short run that checks every answer holds `expect`.
    user: log this test user in first and send its code (bearer: log it in through POST
    /applet/login instead and send "Authorization: Bearer <token>"). seed(base, code): fill the
    store (code sessions only)."""

    def __init__(self, suite, sid, title, system, start, path, expect, user=None, seed=None,
                 wrk_cpu=None, bearer=False):
        super().__init__(suite, sid, title, system, start)
        self.path = path
        self.expect = expect
        self.user = user
        self.seed = seed
        self.wrk_cpu = wrk_cpu
        self.bearer = bearer
        self.headers = []

    def prepare(self):
        self.proc, self.base = self.start()
        if self.user and self.bearer:
            token = token_login(self.base, self.suite.sim_base, self.user)
            self.headers = [f"Authorization: Bearer {token}"]
        elif self.user:
            code = login_user(self.base, self.suite.sim_base, self.user)
            self.headers = [f"X-WX-Code: {code}"]
            if self.seed:
                self.seed(self.base, code)

    def wrk(self, seconds, script="summary", args=()):
        return self.suite.wrk.run(self.base + self.path, seconds, script=script,
                                  headers=self.headers, args=args, cpu=self.wrk_cpu)

    def warm(self):
        if self.args.warmup:
            self.wrk(self.args.warmup)

    def run_once(self, index):
        self.runs.append(self.wrk(self.args.duration))

    def finish(self):
        checked = self.wrk(self.args.check, script="check", args=[self.expect])
        res = self.result({"check_requests": checked["requests"],
                           "check_errors": checked["errors"]})
        res["errors"] += checked["errors"]
        self.stop()
        return res


class Dynamic(Scenario):
    """A request that changes every time, every answer checked (login, exchange, save).
    make_args(scenario, count, tag) precomputes inputs for count requests and returns the wrk
    script's args. A run that uses up its inputs is repeated with more; inputs are capped below
    the simulator's table of live codes, and a run that would need more is shortened (noted)."""

    def __init__(self, suite, sid, title, system, start, path, script, make_args, estimate,
                 user=None, owns=True):
        super().__init__(suite, sid, title, system, start, owns)
        self.path = path
        self.script = script
        self.make_args = make_args
        self.estimate = estimate  # expected req/s, refined by each run
        self.user = user
        self.code = None

    def prepare(self):
        self.proc, self.base = self.start()
        if self.user:
            self.code = login_user(self.base, self.suite.sim_base, self.user)

    def one(self, name, seconds):
        for _attempt in range(3):
            self.suite.run_tag += 1
            if self.estimate * seconds * 1.25 + 5000 > MAX_PRECOMPUTED and name != "warm-up":
                seconds = max(3, int((MAX_PRECOMPUTED - 5000) / (self.estimate * 1.25)))
                self.note = f"runs shortened to {seconds} s (at most {MAX_PRECOMPUTED:,} codes)"
            need = min(int(self.estimate * seconds * 1.25) + 5000, MAX_PRECOMPUTED)
            args = self.make_args(self, need, str(self.suite.run_tag))
            r = self.suite.wrk.run(self.base + self.path, seconds, script=self.script, args=args)
            if r["exhausted"] == 0:
                break
            log(f"{self.id} {name}: {need} inputs ran out; again with more")
            self.estimate = max(self.estimate, r["rps"]) * 1.5
        self.estimate = max(r["rps"], 500.0)
        return r

    def warm(self):
        if self.args.warmup:
            self.one("warm-up", self.args.warmup)

    def run_once(self, index):
        self.runs.append(self.one(f"run {index + 1}", self.args.duration))

    def finish(self):
        res = self.result()
        self.stop()
        return res


def run_group(suite, scenarios):
    """Prepares the selected scenarios, warms each up, runs them round-robin, finishes them.
    A scenario that fails is recorded as failed and the others go on."""
    chosen = [s for s in scenarios if suite.selected(s.id)]
    live = []
    for s in chosen:
        log(f"prepare {s.id}: {s.title} ({s.system})")
        if attempt(suite, s, s.prepare):
            live.append(s)
    for s in list(live):
        if not attempt(suite, s, s.warm):
            live.remove(s)
    for i in range(suite.args.runs):
        for s in list(live):
            if attempt(suite, s, lambda: s.run_once(i)):
                r = s.runs[-1]
                log(f"  {s.id} run {i + 1}: {r['rps']:,.0f} req/s, p99 {r['p99_us'] / 1000:.2f} ms,"
                    f" errors {r['errors']}")
            else:
                live.remove(s)
    for s in live:
        res = {}
        if attempt(suite, s, lambda: res.update(s.finish())):
            suite.add_result(s, res)


def attempt(suite, s, step):
    """Runs one step of s; on failure records s as failed, stops it and returns False."""
    try:
        step()
        return True
    except BenchError as e:
        log(f"{s.id} FAILED: {e}")
        s.stop()
        suite.add_result(s, {"failed": str(e)[:500]})
        return False
