"""redis_ha.py: Redis set-ups for the integration tests, on Debian's redis-server and
redis-sentinel, on loopback and random ports, each process stopped by PID: a RESP client, a
node, a Sentinel, a Sentinel-managed pair (primary, replica, 3 Sentinels) and a 6-node
Cluster (3 primaries + 3 replicas).
"""
import os
import shutil
import socket
import subprocess
import tempfile
import unittest

from harness import Process, free_port, wait_port, wait_until

MASTER = "mymaster"
NODE_TIMEOUT_MS = 1000
HANG_GUARD = 30.0  # seconds: a hang guard, never a timing assertion


class RespError(Exception):
    pass


class Resp:
    """A minimal RESP client (no dependency beyond the standard library)."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def read(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError(f"bad RESP line {line!r}")

    def call(self, *args):
        self.send(*args)
        reply = self.read()
        if isinstance(reply, RespError):
            raise reply
        return reply

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def call(port, *args):
    conn = Resp(port)
    try:
        return conn.call(*args)
    finally:
        conn.close()


class RedisNode(Process):
    """redis-server, no persistence, full syncs without delay; a replica of replicaof if set.
    As a primary it refuses writes while no replica is connected (min-replicas-to-write 1,
    docs/redis-ha.md): such a write fails at once instead of waiting for WAIT's timeout."""

    def __init__(self, port=None, replicaof=None):
        self.port = port or free_port()
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--repl-diskless-sync-delay", "0",
                "--min-replicas-to-write", "1", "--min-replicas-max-lag", "10"]
        if replicaof:
            argv += ["--replicaof", "127.0.0.1", str(replicaof)]
        super().__init__(argv, f"redis-{self.port}")
        wait_port(self.port, self.proc, "redis-server")


class SentinelProc(Process):
    """redis-sentinel watching the primary at primary_port (quorum 2, down after 1 s)."""

    def __init__(self, program, primary_port):
        self.port = free_port()
        self.conf_dir = tempfile.mkdtemp(prefix="wxs-sentinel-conf-")
        conf = os.path.join(self.conf_dir, "sentinel.conf")  # Sentinel rewrites it: ours alone
        with open(conf, "w") as f:
            f.write(f"port {self.port}\nbind 127.0.0.1\ndir {self.conf_dir}\n"
                    f"sentinel monitor {MASTER} 127.0.0.1 {primary_port} 2\n"
                    f"sentinel down-after-milliseconds {MASTER} 1000\n"
                    f"sentinel failover-timeout {MASTER} 2000\n"
                    f"sentinel parallel-syncs {MASTER} 1\n")
        super().__init__([program, conf], f"sentinel-{self.port}")
        wait_port(self.port, self.proc, "redis-sentinel")

    def cleanup(self):
        super().cleanup()
        shutil.rmtree(self.conf_dir, ignore_errors=True)


class SentinelPair:
    """A primary, its replica and 3 Sentinels watching them (quorum 2), ready: the replica in
    sync and every Sentinel aware of the others and of the replica. nodes: port -> RedisNode."""

    def __init__(self, sentinel_program):
        self.nodes = {}
        self.sentinels = []
        try:
            primary = RedisNode()
            self.nodes[primary.port] = primary
            replica = RedisNode(replicaof=primary.port)
            self.nodes[replica.port] = replica
            self.sentinels = [SentinelProc(sentinel_program, primary.port) for _ in range(3)]
            self.wait_replicated(primary.port)
            for s in self.sentinels:
                wait_until(lambda: len(call(s.port, "SENTINEL", "sentinels", MASTER)) == 2 and
                           len(call(s.port, "SENTINEL", "replicas", MASTER)) == 1,
                           "the Sentinels know each other and the replica", timeout=HANG_GUARD)
            wait_until(lambda: call(self.sentinels[0].port, "SENTINEL", "ckquorum", MASTER)
                       .startswith("OK"), "Sentinel quorum", timeout=HANG_GUARD)
        except BaseException:
            self.cleanup()
            raise

    def procs(self):
        return list(self.nodes.values()) + self.sentinels

    def sentinel_list(self):
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def primary_port(self):
        host, port = call(self.sentinels[0].port, "SENTINEL", "get-master-addr-by-name", MASTER)
        return int(port)

    def wait_replicated(self, primary_port):
        """Until the primary has a connected replica (ROLE lists it)."""
        wait_until(lambda: call(primary_port, "ROLE")[0] == b"master" and
                   len(call(primary_port, "ROLE")[2]) >= 1,
                   "the replica is connected", timeout=HANG_GUARD)

    def cleanup(self):
        for p in reversed(self.procs()):
            p.cleanup()


def crc16(data):
    """CRC16/XMODEM, as the Redis Cluster spec (and lib/redis_cluster.c)."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    data = key.encode()
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1:end]
    return crc16(data) & 16383


class ClusterNode(Process):
    """One redis-server with cluster-enabled, its data (nodes.conf) in a folder that outlives a
    kill, so that restart() brings the same node back (it rejoins as a replica)."""

    def __init__(self, data_dir, port=None, bus_port=None):
        self.data_dir = data_dir
        # free_port() only finds a port free now: a parallel test may take it (or the bus port)
        # before redis-server binds it; new ports are tried then, unless they were given
        attempts = 1 if port is not None else 3
        for attempt in range(attempts):
            self.port = port or free_port()
            self.bus_port = bus_port or free_port()
            argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes", "--cluster-port", str(self.bus_port),
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                    # the slots of the other primaries keep serving while one fails over
                    "--cluster-require-full-coverage", "no",
                    "--save", "", "--appendonly", "no", "--dir", data_dir,
                    "--repl-diskless-sync-delay", "0"]
            super().__init__(argv, f"redis-{self.port}")
            try:
                wait_port(self.port, self.proc, "redis-server (cluster node)")
                return
            except RuntimeError as e:
                log = self.output()
                self.cleanup()
                if attempt + 1 == attempts or "in use" not in log:
                    raise RuntimeError(f"{e}:\n{log[-1500:]}") from None
                print(f"cluster node: port {self.port} or {self.bus_port} taken meanwhile; "
                      "trying other ports")
                # the node id it wrote before failing: the next attempt starts a fresh node
                conf = os.path.join(data_dir, "nodes.conf")
                if os.path.exists(conf):
                    os.remove(conf)

    def cli(self, *args, follow=False):
        argv = ["redis-cli", "-p", str(self.port)] + (["-c"] if follow else []) + list(args)
        out = subprocess.run(argv, capture_output=True, check=True, timeout=10)
        return out.stdout.decode().strip()

    def info(self, section):
        return dict(line.split(":", 1) for line in self.cli("INFO", section).splitlines()
                    if ":" in line)

    def restart(self):
        old = self
        node = ClusterNode(self.data_dir, self.port, self.bus_port)
        old.log.close()
        shutil.rmtree(old.dir, ignore_errors=True)
        self.__dict__.update(node.__dict__)


class Cluster:
    """6 nodes, made a cluster by `redis-cli --cluster create ... --cluster-replicas 1`."""

    def __init__(self):
        self.top = tempfile.mkdtemp(prefix="wxs-cluster-")
        self.nodes = []
        try:
            for i in range(6):
                d = os.path.join(self.top, f"n{i}")
                os.mkdir(d)
                self.nodes.append(ClusterNode(d))
            addrs = [f"127.0.0.1:{n.port}" for n in self.nodes]
            subprocess.run(["redis-cli", "--cluster", "create"] + addrs +
                           ["--cluster-replicas", "1", "--cluster-yes"],
                           capture_output=True, check=True, timeout=60)
            wait_until(self.healthy, "the cluster ok, every primary with its replica", 60)
        except BaseException:
            self.cleanup()
            raise

    def healthy(self):
        live = [n for n in self.nodes if n.proc.poll() is None]
        try:
            if any("cluster_state:ok" not in n.cli("CLUSTER", "INFO") for n in live):
                return False
            primaries = [n for n in live if n.info("replication")["role"] == "master"]
            return len(primaries) == 3 and all(
                p.info("replication").get("connected_slaves") == "1" and
                "state=online" in p.info("replication").get("slave0", "") for p in primaries)
        except (subprocess.SubprocessError, KeyError):
            return False

    def primaries(self):
        return [n for n in self.nodes if n.proc.poll() is None
                and n.info("replication")["role"] == "master"]

    def owner(self, slot):
        """The node that serves slot now, from CLUSTER NODES asked of a live node."""
        live = next(n for n in self.nodes if n.proc.poll() is None)
        for line in live.cli("CLUSTER", "NODES").splitlines():
            fields = line.split()
            if "master" not in fields[2] or "fail" in fields[2]:
                continue
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            for r in fields[8:]:
                first, _, last = r.partition("-")
                if not first.isdigit():
                    continue  # a slot being migrated: [slot->-id]
                if int(first) <= slot <= int(last or first):
                    return next(n for n in self.nodes if n.port == port)
        return None

    def seeds(self, count=3):
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:count])

    def get(self, key):
        """GET key on the cluster (redis-cli -c follows MOVED); "" for a missing key."""
        live = next(n for n in self.nodes if n.proc.poll() is None)
        return live.cli("GET", key, follow=True)

    def cleanup(self):
        for n in self.nodes:
            n.cleanup()
        shutil.rmtree(self.top, ignore_errors=True)


def cluster_or_skip(test, procs):
    """A new cluster, or skip the test (printing why), stopping what procs holds first."""
    for name, package in (("redis-server", "redis-server"), ("redis-cli", "redis-tools")):
        if shutil.which(name) is None:
            for p in reversed(procs):
                p.cleanup()
            print(f"skipped: {name} not installed (Debian's {package} package; "
                  "scripts/deps.sh --test installs it)")
            raise unittest.SkipTest(f"{name} not installed")
    return Cluster()
