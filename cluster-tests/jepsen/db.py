"""The system under test: a certraft_cluster.Cluster laid out for faults.

In a network namespace (see netns.py) node i listens on 127.0.0.i (raft
on port 7001, API on 8001) and runs as uid BASE_UID + i. The uid is what
lets nftables tell the nodes apart: every node's outgoing connections
leave from 127.0.0.1 whatever address it listens on (nodes do not bind
their client sockets), but the kernel knows which uid owns each socket, so
"node a cannot reach node b" is the rule `meta skuid <a> ip daddr
127.0.0.b drop` (and the same from b to a). Without a namespace, nodes run
as we do on 127.0.0.1 with free ports, like every other cluster test.

For the clock nemesis, every node runs with libfaketime preloaded and
reads its offset from its own file (FAKETIME_TIMESTAMP_FILE, re-read at
most once a second); the monotonic clock is left alone, as an NTP step
would leave it, so raft timers keep their pace.
"""

import glob
import os
import shutil
import subprocess
import time

from certraft_cluster import Client, Cluster, Node, binary, wait_until

BASE_UID = 64100
RAFT_PORT, API_PORT = 7001, 8001


def faketime_library():
    for pattern in ("/usr/lib/*/faketime/libfaketime.so.1",
                    "/usr/lib/faketime/libfaketime.so.1",
                    "/usr/local/lib/faketime/libfaketime.so.1"):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


class JepsenNode(Node):
    def __init__(self, cluster, node_id, host, raft_port, api_port, uid):
        super().__init__(cluster, node_id, raft_port, api_port)
        self.host = host
        self.raft_address = "%s:%d" % (host, raft_port)
        self.api_address = "%s:%d" % (host, api_port)
        self.url = "https://" + self.api_address
        self.uid = uid
        self.faketime_file = os.path.join(cluster.dir, "node%d.faketime" % node_id)

    def popen_kw(self):
        kw = {"env": self.cluster.node_env(self)}
        if self.uid is not None:
            kw["user"] = self.uid
            kw["group"] = self.uid
            kw["extra_groups"] = []
        return kw

    def _spawn(self, args, capture_stdout=False):
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                args, stdout=subprocess.PIPE if capture_stdout else log,
                stderr=log, stdin=subprocess.DEVNULL,
                start_new_session=self.cluster.detach, **self.popen_kw())
        finally:
            log.close()

    def set_skew(self, seconds):
        """Offset this node's wall clock (needs the cluster's faketime)."""
        tmp = self.faketime_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%+d\n" % int(seconds))
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.faketime_file)


class JepsenCluster(Cluster):
    """Cluster with per-node addresses and uids (netns) and faketime."""

    def __init__(self, size, netns, tuning=None, faketime=False, directory=None):
        super().__init__(size, tuning=tuning, directory=directory,
                         ports=[0] * (2 * size))
        os.chmod(self.dir, 0o777)  # nodes run as other uids and make dirs here
        self.netns = netns
        self.faketime = faketime_library() if faketime else None
        if faketime and not self.faketime:
            raise RuntimeError("libfaketime is not installed (Debian package "
                               "faketime)")
        self.nodes = {}
        if netns:
            for i in range(1, size + 1):
                self.nodes[i] = JepsenNode(self, i, "127.0.0.%d" % i, RAFT_PORT,
                                           API_PORT, BASE_UID + i)
        else:
            from certraft_cluster import free_ports
            ports = free_ports(2 * size)
            for i in range(1, size + 1):
                self.nodes[i] = JepsenNode(self, i, "127.0.0.1", ports[2 * i - 2],
                                           ports[2 * i - 1], None)
        for n in self.nodes.values():
            n.set_skew(0)

    def node_env(self, node):
        env = dict(os.environ)
        if self.faketime:
            env["LD_PRELOAD"] = self.faketime
            env["FAKETIME_TIMESTAMP_FILE"] = node.faketime_file
            env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
            env["FAKETIME_CACHE_DURATION"] = "1"
            # An ASan build insists on being first in the library list.
            asan = env.get("ASAN_OPTIONS", "")
            env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
        return env

    def client(self, cert=None, key=None, timeout=15.0):
        c = Client(self.cacert, cert, key)
        c.timeout = timeout
        return c

    def start(self):
        first = self.nodes[1]
        subprocess.run([binary("certnode"), "init", "--data", first.data,
                        "--id", "1", "--raft-address", first.raft_address,
                        "--api-address", first.api_address,
                        "--admin-out", self.admin_dir] + self.tuning,
                       check=True, capture_output=True, **first.popen_kw())
        # `certnode join` (run as the joining node's uid) reads the CA.
        os.chmod(self.admin_dir, 0o755)
        os.chmod(self.cacert, 0o644)
        self.admin = self.client(self.admin_cert, self.admin_key)
        first.start()
        wait_until("node 1 to lead", first.ready, timeout=30)
        for node_id in range(2, self.size + 1):
            self.join(self.nodes[node_id])
        return self

    # --- views used by nemeses and the final checks ---------------------------

    def topologies(self, timeout=3.0):
        """{node id: topology} of the running nodes that answer."""
        client = self.client(self.admin_cert, self.admin_key, timeout=timeout)
        out = {}
        for n in self.running_nodes():
            try:
                out[n.id] = n.topology(client)
            except Exception:
                pass
        return out

    def current_leader(self, timeout=10.0):
        """The node that says it leads, with the highest term; or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            topos = self.topologies()
            leaders = [(t["Term"], i) for i, t in topos.items() if t["State"] == "Leader"]
            if leaders:
                return self.nodes[max(leaders)[1]]
            time.sleep(0.1)
        return None

    def members(self):
        """Voter ids according to the leader (or None)."""
        lead = self.current_leader(timeout=5)
        if lead is None:
            return None
        topo = lead.topology(self.client(self.admin_cert, self.admin_key, timeout=3))
        return sorted(n["Id"] for n in topo["Nodes"] if n["Role"] == "Voter")

    def wipe(self, node):
        shutil.rmtree(node.data, ignore_errors=True)
