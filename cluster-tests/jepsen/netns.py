"""Where a run lives: its own network namespace, and partitions inside it.

Design (the simplest robust one we found): the whole run - nodes, clients,
nemesis - executes inside one fresh network namespace. The outer command
(cluster-tests/run) creates `certraft-jepsen-<pid>-<n>`, re-executes
itself under `ip netns exec` for that one run, and afterwards kills
whatever the run left in the namespace (`ip netns pids`) and deletes it.
So clients need no helper processes or setns(): they are threads of the
inner Python process, on the namespace's loopback, and faults (nftables
rules in the namespace's own ruleset) touch nothing outside the test.

Partitions drop packets in the namespace's OUTPUT hook by socket owner
and destination: node a runs as uid U(a) and listens on 127.0.0.a, so
"a cannot reach b" is `meta skuid U(a) ip daddr 127.0.0.b drop` plus the
mirror rule. Only the connection initiator's packets need dropping: TCP
cannot work one way, so this cuts raft traffic and forwarded requests both
ways, while clients (our uid, root) still reach every node as Jepsen's
clients do.

Without root (or without `ip`), there is no namespace: the run falls back
to plain loopback and to the faults that need none (kill, pause,
membership, clock); partition nemeses are reported as unavailable.
"""

import os
import shutil
import subprocess

TABLE = "certraft_jepsen"


def can_make_namespace():
    """(True, "") or (False, why)."""
    if os.geteuid() != 0:
        return False, "not root: network namespaces need CAP_SYS_ADMIN"
    if not shutil.which("ip"):
        return False, "the ip command (Debian package iproute2) is missing"
    return True, ""


def create(name):
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)


def pids(name):
    r = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []


def delete(name):
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


def exec_prefix(name):
    return ["ip", "netns", "exec", name]


def inside_setup():
    """Called inside the namespace: bring loopback up."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True)


class Firewall:
    """nftables partitions between nodes of a JepsenCluster (netns only)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.available = shutil.which("nft") is not None
        if self.available:
            self._nft("add table inet %s\n"
                      "add chain inet %s out { type filter hook output priority 0; "
                      "policy accept; }\nflush chain inet %s out\n"
                      % (TABLE, TABLE, TABLE))

    @staticmethod
    def _nft(script):
        r = subprocess.run(["nft", "-f", "-"], input=script, text=True,
                           capture_output=True)
        if r.returncode != 0:
            raise RuntimeError("nft failed: %s\n%s" % (r.stderr, script))

    def cut(self, pairs):
        """Replace the rules: each (a, b) in pairs cannot talk (both ways)."""
        lines = ["flush chain inet %s out" % TABLE]
        for a, b in pairs:
            for src, dst in ((a, b), (b, a)):
                s, d = self.cluster.nodes[src], self.cluster.nodes[dst]
                lines.append("add rule inet %s out meta skuid %d ip daddr %s "
                             "tcp dport { %s } drop" % (
                                 TABLE, s.uid, d.host,
                                 ", ".join(sorted({d.raft_address.split(":")[1],
                                                   d.api_address.split(":")[1]}))))
        self._nft("\n".join(lines) + "\n")

    def heal(self):
        self._nft("flush chain inet %s out\n" % TABLE)

    def rules(self):
        r = subprocess.run(["nft", "list", "table", "inet", TABLE],
                           capture_output=True, text=True)
        return r.stdout
