"""run_mongodb.py: the MongoDB drawing store against a live server: the C store suites
(test_paints's MongoDB group, test_paints_mongo_live) and the One Stroke routes on wxsessiond
(test_paints.MongoPaints).

The server is WXS_TEST_MONGODB_URI when set (a real MongoDB, e.g. mongodb://127.0.0.1:27017/);
otherwise jongodb, a wire-compatible in-memory server for tests that `npm ci` installs
(package.json: @jongodb/memory-server-bin-linux-x64-gnu, a native binary), started here on
loopback twice: standalone, and as a single-node replica set (a replicaSet URI through
libmongoc's discovery). It is a substitute for tests; production runs MongoDB. Without either
server this prints why and exits 77 (ctest: skipped).
"""
import os
import re
import subprocess
import sys
import unittest

from harness import BUILD_DIR, Process, wait_until

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
JONGODB = os.path.join(ROOT, "node_modules", "@jongodb", "memory-server-bin-linux-x64-gnu",
                       "bin", "jongodb")
TOPOLOGIES = (("standalone", []),
              ("single-node replica set",
               ["--topology-profile=single_node_replicaset", "--replica-set-name=rs0"]))
C_SUITES = ("test_paints", "test_paints_mongo_live")
FIGURES = re.compile(r"^(duplicate \{openId|concurrent saves|server applies|"
                     r"close in flight \(mongodb\))")


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


class Jongodb(Process):
    """jongodb on a loopback port it picks (--port=0), stopped by PID; uri is what it prints."""

    def __init__(self, args):
        super().__init__([JONGODB, "--host=127.0.0.1", "--port=0"] + args, "jongodb")
        wait_until(self.listening, "jongodb's URI line", timeout=30)

    def listening(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"jongodb exited with {self.proc.returncode}:\n{self.output()}")
        m = re.search(r"^JONGODB_URI=(\S+)$", self.output(), re.M)
        self.uri = m.group(1) if m else None
        return self.uri is not None


def run_c_suite(name, uri):
    """Run one C suite binary on uri; its figure lines are echoed. True when it passed."""
    env = dict(os.environ, WXS_TEST_MONGODB_URI=uri)
    run = subprocess.run([os.path.join(BUILD_DIR, "tests", name)], env=env, timeout=300,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = run.stdout.splitlines()
    passed = sum(1 for ln in lines if ln.startswith("[       OK ]"))
    skipped = sum(1 for ln in lines if ln.startswith("[  SKIPPED ]"))
    for ln in lines:
        if FIGURES.match(ln):
            print(f"  {ln}")
    if run.returncode != 0 or skipped:
        print(run.stdout)
    print(f"  {name}: exit {run.returncode}, {passed} cases passed, {skipped} skipped")
    return run.returncode == 0 and not skipped


def run_routes(uri):
    """test_paints.MongoPaints (wxsessiond's routes) on uri. True when it passed."""
    os.environ["WXS_TEST_MONGODB_URI"] = uri
    suite = unittest.defaultTestLoader.loadTestsFromName("test_paints.MongoPaints")
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    return result.wasSuccessful() and not result.skipped


def run_all(what, uri):
    print(f"== MongoDB suites on {what}: {re.sub(r'//[^@/]*@', '//***@', uri)}", flush=True)
    ok = [run_c_suite(name, uri) for name in C_SUITES]
    ok.append(run_routes(uri))
    return all(ok)


def main():
    for name in C_SUITES:
        if not os.path.exists(os.path.join(BUILD_DIR, "tests", name)):
            skip(f"{name} is not built (the server and One Stroke are off in this build)")
    given = os.environ.get("WXS_TEST_MONGODB_URI")
    results = []
    if given:
        results.append(("WXS_TEST_MONGODB_URI", run_all("WXS_TEST_MONGODB_URI", given)))
    elif not os.access(JONGODB, os.X_OK):
        skip("no MongoDB server: WXS_TEST_MONGODB_URI is not set and jongodb is not installed "
             "(`npm ci` at the repository root installs it from package.json)")
    else:
        for what, args in TOPOLOGIES:
            server = Jongodb(args)
            try:
                results.append((f"jongodb {what}", run_all(f"jongodb ({what})", server.uri)))
            finally:
                server.stop()
                server.cleanup()
    for what, ok in results:
        print(f"MongoDB suites on {what}: {'passed' if ok else 'FAILED'}")
    passed = sum(ok for _, ok in results)
    print(f"mongodb: {passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
