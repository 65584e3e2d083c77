#!/usr/bin/env bash
# soak.sh: the long versions of the fault-injection and hostile-client tests, and the valgrind
# run of the integration suite; prints a summary at the end.
#
#   scripts/soak.sh [MINUTES] [STEP...]     MINUTES per timed step (default 10)
#   steps: redis   Redis SIGKILL/restart cycles under load for MINUTES (test_faults, more cycles)
#          hostile 10,000 idle connections, slowloris waves and unread pipelined floods against
#                  one wxsessiond for MINUTES, sampling its VmRSS (growth across cycles = a leak)
#          flood   test_hostile's unread pipelined flood (skipped by ctest: timing-dependent)
#          valgrind  the integration suite with every wxsessiond under valgrind memcheck
#                  (WXS_VALGRIND=1; about 3 minutes on a 2-core machine)
#   default: all four. BUILD_DIR (default build/, built if missing) picks the build; use an
#   ASan build (scripts/build.sh --asan; BUILD_DIR=build-asan) for redis and hostile, never for
#   valgrind. Processes are on loopback with free ports and are all stopped by the steps.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
minutes=${1:-10}
shift || true
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(redis hostile flood valgrind)
build=${BUILD_DIR:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
[ -x "$build/wxsessiond" ] || scripts/build.sh
export WXS_BUILD_DIR="$build"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
logdir=$(mktemp -d /tmp/wxs-soak-XXXXXX)
summary=()
status=0

run_step() { # name, command...: runs it with its output in $logdir/name.log, records the result
  local name=$1
  shift
  local t0=$SECONDS
  echo "== $name (log: $logdir/$name.log)"
  if (cd tests/integration && "$@") >"$logdir/$name.log" 2>&1; then
    summary+=("$name: PASS in $((SECONDS - t0)) s")
  else
    summary+=("$name: FAIL in $((SECONDS - t0)) s (see $logdir/$name.log)")
    status=1
  fi
  grep -E '^\[(faults|hostile|soak)\]' "$logdir/$name.log" | tail -n 40 | sed 's/^/   /'
}

for step in "${steps[@]}"; do
  case "$step" in
  flood)
    # the unread pipelined flood: timing-dependent, so not in the test command
    run_step flood env WXS_SOAK=1 python3 -m unittest -v test_hostile.Hostile.test_pipelined_flood_unread
    ;;
  redis)
    # one cycle: 1 s outage + until a request succeeds again (no fixed window): about 1.5 s
    cycles=$((minutes * 60 * 10 / 15))
    run_step redis env WXS_FAULTS_OUTAGES="$cycles" python3 -m unittest -v \
      test_faults.RedisOutages
    ;;
  hostile)
    run_step hostile env WXS_SOAK_MINUTES="$minutes" python3 - <<'PY'
"""Hostile clients in waves against one wxsessiond; VmRSS sampled after every wave."""
import os, shutil, socket, sys, tempfile, time
from harness import Server, Simulator, login_headers, raise_nofile, rss_kib, open_fds
import test_hostile as th

minutes = float(os.environ["WXS_SOAK_MINUTES"])
nofile = raise_nofile(th.IDLE_CONNECTIONS + 1000)
tmp = tempfile.mkdtemp(prefix="wxs-soak-")
sim = Simulator()
server = Server({"sqlite": {"path": os.path.join(tmp, "s.db")}, "wechat": {"apiBase": sim.base},
                 "timeouts": {"headerMs": 1000}},
                env=th.MEASURABLE_MEMORY)
pid = server.proc.pid
creds = sim.login("soak")
assert server.request("GET", "/applet/session", login_headers(creds))[0] == 200
code = creds["code"]
n_idle = min(th.IDLE_CONNECTIONS, nofile - 500)


def serves():
    t0 = time.monotonic()
    status, _, body = server.request("GET", "/applet/session", {"X-WX-Code": code})
    assert status == 200 and creds["openid"].encode() in body, (status, body)
    return time.monotonic() - t0


def idle_wave():
    socks = []
    for _ in range(n_idle):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", server.port))
        socks.append(s)
    deadline = time.monotonic() + 30
    while open_fds(pid) < n_idle and time.monotonic() < deadline:
        time.sleep(0.05)
    peak = rss_kib(pid)
    latency = serves()
    for s in socks:
        s.close()
    return peak, latency


def slowloris_wave(n=500):
    line = b"GET /applet/session HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 100
    socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(n)]
    answered = 0
    for i in range(len(line)):
        for s in socks:
            try:
                s.send(line[i:i + 1])
            except OSError:
                pass
        time.sleep(0.1)
        if i % 5 == 0:
            serves()
        if i >= 25:
            break
    for s in socks:
        answered += th.read_until_close(s, 3).startswith(b"HTTP/1.1 408 ")
        s.close()
    return answered


def unread_flood(n=20, seconds=2.0):
    block = (f"GET /applet/session HTTP/1.1\r\nHost: x\r\nX-WX-Code: {code}\r\n\r\n" * 100).encode()
    socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(n)]
    pending = {}
    for s in socks:
        s.setblocking(False)
        pending[s] = block
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for s in socks:
            try:
                pending[s] = pending[s][s.send(pending[s]):] or block  # whole requests only
            except BlockingIOError:
                pass
        time.sleep(0.01)
    peak = rss_kib(pid)
    serves()
    for s in socks:
        s.close()
    return peak


status = 1
try:
    base = rss_kib(pid)
    samples = []
    end = time.monotonic() + minutes * 60
    wave = 0
    while wave == 0 or time.monotonic() < end:  # at least one wave
        wave += 1
        idle_peak, latency = idle_wave()
        slow_ok = slowloris_wave()
        flood_peak = unread_flood()
        time.sleep(1.0)
        after = rss_kib(pid)
        samples.append(after)
        print(f"[soak] wave {wave}: idle peak {idle_peak} KiB, served in {latency*1000:.1f} ms, "
              f"slowloris 408s {slow_ok}/500, flood peak {flood_peak} KiB, after {after} KiB",
              file=sys.stderr, flush=True)
    growth = samples[-1] - samples[0]
    print(f"[soak] hostile: {wave} waves in {minutes} min, RSS base {base} KiB, after first wave "
          f"{samples[0]} KiB, after last {samples[-1]} KiB (growth {growth} KiB), "
          f"max {max(samples)} KiB", file=sys.stderr, flush=True)
    stopped = server.stop()
    print(f"[soak] hostile: wxsessiond exit status {stopped}", file=sys.stderr)
    status = 0 if stopped == 0 and growth < 16 * 1024 else 1
finally:
    server.cleanup()
    sim.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(status)
PY
    ;;
  valgrind)
    if ! command -v valgrind >/dev/null; then
      summary+=("valgrind: SKIPPED (apt-get install valgrind)")
      continue
    fi
    if nm -D "$build/wxsessiond" 2>/dev/null | grep -q __asan_init; then
      summary+=("valgrind: SKIPPED ($build is an ASan build; valgrind needs a normal one)")
      continue
    fi
    run_step valgrind env WXS_VALGRIND=1 python3 -m unittest test_session test_paints \
      test_cli test_secrets test_faults test_hostile
    ;;
  *)
    echo "unknown step '$step' (redis, hostile, flood, valgrind)" >&2
    exit 2
    ;;
  esac
done

echo
echo "== soak summary ($minutes min per timed step, build $build)"
for line in "${summary[@]}"; do
  echo "   $line"
done
exit $status
