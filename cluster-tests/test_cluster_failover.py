#!/usr/bin/env python3
"""Faults on a 3-node cluster of real processes: kill -9 of the leader,
all nodes stopped (and killed) and restarted, and a node that was down
while more than a snapshot's worth of entries were written."""

import sys
import time

from certraft_cluster import Cluster, run_tests, wait_until

# Small snapshots so that a few hundred writes span several of them.
TUNING = ["--snapshot-threshold", "64", "--snapshot-trailing", "16"]

cluster = None
acknowledged = set()


def upload(name, node=None):
    crt, _ = cluster.new_cert(name)
    body = cluster.upload_body(name, crt)
    url = (node or cluster.leader()).url
    r = cluster.admin.request(url, "PUT", "/admin/certificates", body)
    if r.status == 201:
        acknowledged.add(r.json()["Thumbprint"])
    return r


def test_kill_leader_elects_new_leader_and_writes_resume():
    for i in range(10):
        assert upload("pre%d" % i).status == 201
    old = cluster.leader()
    old.kill()
    killed_at = time.monotonic()
    survivors = [n for n in cluster.nodes.values() if n.id != old.id]

    def write_succeeds():
        for n in survivors:
            try:
                if upload("after-kill-%f" % time.monotonic(), n).status == 201:
                    return True
            except OSError:
                pass
        return False

    wait_until("a write after killing the leader", write_succeeds, timeout=30)
    took = time.monotonic() - killed_at
    new = cluster.leader()
    assert new.id != old.id
    print("  failover: leader %d killed, node %d leads, writes resumed after %.2fs"
          % (old.id, new.id, took), flush=True)
    old.start()
    wait_until("all nodes to agree after restart",
               lambda: cluster.registries_agree(), timeout=30)
    present = set(cluster.registries_agree())
    missing = acknowledged - present
    assert not missing, "acknowledged uploads lost: %s" % sorted(missing)


def test_restart_all_nodes_gives_identical_registries():
    # more than a snapshot's worth: each node restarts from its own
    # snapshot file (LZ4-framed by certnode, loaded by raft) plus the log
    for i in range(80):
        assert upload("restart%d" % i).status == 201
    before = wait_until("all nodes to apply the uploads",
                        cluster.registries_agree, timeout=10)
    for n in cluster.nodes.values():
        n.stop()
    for n in cluster.nodes.values():
        n.start()
    cluster.leader()
    wait_until("registries after restart",
               lambda: cluster.registries_agree() == before, timeout=30)
    for n in cluster.nodes.values():
        assert n.topology()["SnapshotsRestored"] == 1, n.topology()


def test_kill_all_nodes_loses_no_acknowledged_write():
    for i in range(5):
        assert upload("killall%d" % i).status == 201
    for n in cluster.nodes.values():
        n.kill()
    for n in cluster.nodes.values():
        n.start()
    cluster.leader()
    agreed = wait_until("registries after kill -9 of all nodes",
                        lambda: cluster.registries_agree(), timeout=30)
    missing = acknowledged - set(agreed)
    assert not missing, "acknowledged uploads lost: %s" % sorted(missing)


def test_lagging_node_catches_up_by_snapshot():
    lagging = cluster.followers()[0]
    lagging.stop()
    for i in range(150):  # more than threshold + trailing entries
        assert upload("snap%d" % i).status == 201
    lagging.start()
    wait_until("the lagging node to catch up",
               lambda: cluster.registries_agree() and
               set(cluster.thumbprints_on(lagging)) >= acknowledged, timeout=60)
    topo = lagging.topology()
    assert topo["SnapshotsInstalled"] >= 1, topo
    print("  node %d installed %d snapshot(s) from the leader to catch up"
          % (lagging.id, topo["SnapshotsInstalled"]), flush=True)


def main():
    global cluster
    with Cluster(3, tuning=TUNING) as c:
        cluster = c
        code = run_tests([
            test_kill_leader_elects_new_leader_and_writes_resume,
            test_restart_all_nodes_gives_identical_registries,
            test_kill_all_nodes_loses_no_acknowledged_write,
            test_lagging_node_catches_up_by_snapshot,
        ], cluster)
    sys.exit(code)


if __name__ == "__main__":
    main()
