"""cluster.py: the bench's Redis Cluster: 3 primaries + 3 replicas of Debian's redis-server on
loopback (free ports, no persistence, a small cluster-node-timeout), started through the
Supervisor (so stopped by PID with everything else) and joined by `redis-cli --cluster create`.
Python 3 stdlib only."""

import os
import subprocess
import time

from benchlib import BenchError, free_port, log, wait_tcp

NODES = 6  # 3 primaries, each with one replica
NODE_TIMEOUT_MS = 2000  # small, yet above a stall of a busy node on the 2 shared cores


class RedisCluster:
    """start() brings the cluster up and waits until it is healthy; seeds() names nodes for
    --redis-cluster; primaries() and failovers() tell whether the cluster kept its shape while
    it was measured; stop() stops the nodes by PID once the cluster rows are done (the
    Supervisor's stop_all does it too, on any failure)."""

    def __init__(self, sup, data_dir):
        self.sup = sup
        self.data_dir = data_dir
        self.ports = []
        self.procs = []
        self.first_primaries = None
        self.failed = None  # why start() failed, set by the caller

    def start(self):
        """Starts the 6 nodes, creates the cluster (replicas 1), waits for cluster_state:ok with
        every primary holding an online replica. Raises BenchError on failure."""
        t0 = time.monotonic()
        for i in range(NODES):
            node_dir = os.path.join(self.data_dir, f"cluster-{i}")
            os.makedirs(node_dir, exist_ok=True)
            port, bus = free_port(), free_port()
            proc, _ = self.sup.start(f"redis-cluster-{i}", [
                "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-port", str(bus),
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                "--save", "", "--appendonly", "no", "--dir", node_dir,
                "--repl-diskless-sync-delay", "0", "--daemonize", "no"])
            self.procs.append(proc)
            wait_tcp(port, proc)
            self.ports.append(port)
        create = subprocess.run(
            ["redis-cli", "--cluster", "create"] + [f"127.0.0.1:{p}" for p in self.ports]
            + ["--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True, text=True, timeout=60)
        if create.returncode != 0:
            raise BenchError(f"redis-cli --cluster create failed: {create.stdout[-1500:]} "
                             f"{create.stderr[-500:]}")
        deadline = time.monotonic() + 60
        while not self.healthy():
            if time.monotonic() > deadline:
                raise BenchError("the Redis Cluster did not become healthy within 60 s")
            time.sleep(0.2)
        self.first_primaries = self.primaries()
        log(f"Redis Cluster up in {time.monotonic() - t0:.1f}s: primaries "
            f"{self.first_primaries}, nodes {self.ports}")

    def cli(self, port, *args):
        """redis-cli -p port args...; the reply text, or "" when the node does not answer."""
        try:
            out = subprocess.run(["redis-cli", "-p", str(port)] + list(args),
                                 capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            return ""
        return out.stdout if out.returncode == 0 else ""

    def role(self, port):
        """{field: value} of INFO replication on port ({} when it does not answer)."""
        text = self.cli(port, "INFO", "replication")
        return dict(line.strip().split(":", 1) for line in text.splitlines() if ":" in line)

    def healthy(self):
        """Every node says cluster_state:ok and 3 primaries each have an online replica."""
        if any("cluster_state:ok" not in self.cli(p, "CLUSTER", "INFO") for p in self.ports):
            return False
        primaries = [self.role(p) for p in self.ports]
        primaries = [r for r in primaries if r.get("role") == "master"]
        return len(primaries) == NODES // 2 and all(
            r.get("connected_slaves") == "1" and "state=online" in r.get("slave0", "")
            for r in primaries)

    def primaries(self):
        """Ports of the nodes that are primaries now, sorted."""
        return sorted(p for p in self.ports if self.role(p).get("role") == "master")

    def seeds(self):
        """host:port of the three first nodes, for --redis-cluster."""
        return ",".join(f"127.0.0.1:{p}" for p in self.ports[:3])

    def summary(self):
        """The cluster's shape for the report: nodes, node timeout, and whether a primary
        changed while the bench ran (a failover would have cost the rows errors), or why the
        cluster did not start."""
        shape = {"nodes": NODES, "primaries": NODES // 2, "node_timeout_ms": NODE_TIMEOUT_MS}
        if self.failed:
            return dict(shape, failed=self.failed)
        now = self.primaries()
        return dict(shape, primaries_at_start=self.first_primaries, primaries_at_end=now,
                    failover=now != self.first_primaries, healthy_at_end=self.healthy())

    def stop(self):
        """Stops the nodes by PID (through the Supervisor), so later rows run without them."""
        for proc in reversed(self.procs):
            self.sup.stop(proc)
        self.procs = []
