#!/usr/bin/env python3
"""certctl against a real 3-node cluster, as an operator uses it: status,
certificate upload/list/whoami/delete, adding a 4th node with one command
on each side, moving leadership, and removing a node."""

import json
import subprocess
import sys

from certraft_cluster import (Cluster, Node, binary, free_ports, run_tests,
                              thumbprint_of, wait_until)

cluster = None


def ok(proc):
    assert proc.returncode == 0, "certctl failed (%d): %s %s" % (
        proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def test_cluster_status_lists_three_voters():
    out = json.loads(ok(cluster.certctl("--output", "json", "cluster", "status")))
    assert sorted(n["Id"] for n in out["Nodes"]) == [1, 2, 3], out
    assert all(n["Role"] == "Voter" for n in out["Nodes"]), out
    table = ok(cluster.certctl("cluster", "status"))
    for n in cluster.nodes.values():
        assert n.raft_address in table, table


def test_certs_upload_list_whoami_delete():
    crt, key = cluster.new_cert("carol")
    out = ok(cluster.certctl("certs", "upload", "--name", "carol", "--file", crt,
                             "--clearance", "ValidUser", "--perm", "hr=ReadWrite"))
    thumb = thumbprint_of(crt)
    assert thumb in out, out
    listed = ok(cluster.certctl("certs", "list", "--name", "carol"))
    assert thumb in listed and "hr:ReadWrite" in listed, listed
    who = json.loads(ok(cluster.certctl("--output", "json", "certs", "whoami",
                                        cert=crt, key=key)))
    assert who["Name"] == "carol" and who["Permissions"] == {"hr": "ReadWrite"}, who
    ok(cluster.certctl("certs", "delete", "--thumbprint", thumb))
    denied = cluster.certctl("certs", "whoami", cert=crt, key=key)
    assert denied.returncode == 1 and "403" in denied.stderr, denied


def test_errors_are_one_line_with_non_zero_exit():
    bad = cluster.certctl("certs", "upload", "--name", "x", "--file", "/nonexistent")
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0, bad
    crt, key = cluster.new_cert("nobody")
    denied = cluster.certctl("certs", "list", cert=crt, key=key)
    assert denied.returncode == 1, denied
    assert thumbprint_of(crt) in denied.stderr, denied


def test_add_node_with_one_command_on_each_side():
    raft_port, api_port = free_ports(2)
    node = Node(cluster, 4, raft_port, api_port)
    cluster.nodes[4] = node
    args = [binary("certnode"), "join", "--data", node.data, "--id", "4",
            "--raft-address", node.raft_address, "--api-address", node.api_address,
            "--cluster", cluster.nodes[1].url + "," + cluster.nodes[2].url,
            "--cacert", cluster.cacert]
    node._spawn(args, capture_stdout=True)
    line = wait_until("the join command line", lambda: cluster._join_line(node))
    # The printed command is what the operator runs, verbatim.
    printed = line.strip().split()
    assert printed[:3] == ["certctl", "cluster", "add-node"], line
    proc = cluster.certctl(*printed[1:])
    ok(proc)
    assert "node 4 joined as voter" in proc.stdout + proc.stderr, proc
    assert cluster.is_voter(4)
    wait_until("node 4 to serve the registry",
               lambda: cluster.registries_agree() is not None, timeout=30)
    topo = node.topology()
    assert topo["NodeId"] == 4 and topo["Leader"] is not None, topo


def test_transfer_leadership_then_remove_old_leader():
    old = cluster.leader()
    out = json.loads(ok(cluster.certctl("--output", "json", "cluster",
                                        "transfer-leadership")))
    assert out["Leader"] != old.id, out
    wait_until("a new leader", lambda: cluster.leader().id != old.id, timeout=15)
    ok(cluster.certctl("cluster", "remove-node", "--id", str(old.id)))
    topo = cluster.leader().topology()
    assert old.id not in [n["Id"] for n in topo["Nodes"]], topo
    old.stop()
    del cluster.nodes[old.id]
    # Still a working cluster of three.
    crt, _ = cluster.new_cert("after-remove")
    ok(cluster.certctl("certs", "upload", "--name", "after-remove", "--file", crt))
    wait_until("all nodes to agree", cluster.registries_agree, timeout=15)


def main():
    global cluster
    with Cluster(3) as c:
        cluster = c
        code = run_tests([
            test_cluster_status_lists_three_voters,
            test_certs_upload_list_whoami_delete,
            test_errors_are_one_line_with_non_zero_exit,
            test_add_node_with_one_command_on_each_side,
            test_transfer_leadership_then_remove_old_leader,
        ], cluster)
    sys.exit(code)


if __name__ == "__main__":
    main()
