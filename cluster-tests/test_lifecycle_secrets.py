#!/usr/bin/env python3
"""A generated client's private key leaves the cluster once, in the reply,
and is kept nowhere: not in any file under any node's data directory (raft
log segments, snapshots, metadata), not in any node's log, not in any
listing. Searched as raw bytes, hex and base64 (at every alignment) of
the key's secret numbers: the EC private scalar, RSA's d, p and q. The
password of a protected PFX is searched for too.

A positive control proves that the search looks where the registry lives:
the generated certificate's public key IS found in every node's files.
Snapshots are searched decompressed as well: LZ4 can split any string.
"""

import os
import sys

from certraft_cluster import Cluster, openssl, run_tests, wait_until
from lifecycle_helpers import (expect, files_under, find_needles, generate,
                               needles, private_secrets, read, stored_contents)

TUNING = ["--snapshot-threshold", "16", "--snapshot-trailing", "4"]
PASSWORD = "Zq7-pfx-secret-4711"

cluster = None
generated = []  # (name, crt, key, password)


def public_point(crt):
    """The public key bytes (the EC point or the RSA modulus' DER): what
    the registry must hold."""
    spki = openssl("x509", "-in", crt, "-noout", "-pubkey")
    der = openssl("pkey", "-pubin", "-outform", "DER", input=spki)
    return der[-60:]  # the tail: key material, not the algorithm prefix


def all_needles():
    out = []
    for name, crt, key, password in generated:
        for secret in private_secrets(key, password):
            out += [(name, n) for n in needles(secret)]
        if password:
            out.append((name + " password", password.encode()))
    return out


def search(paths):
    items = all_needles()
    found = find_needles(paths, [n for _, n in items])
    return ["%s: secret of %s" % (path, items[i][0]) for path, i in found]


def data_files(node):
    return list(files_under(node.data))


def test_generate_keys_of_every_type_through_every_node():
    nodes = [cluster.leader()] + cluster.followers()
    specs = [("p256-leader", "P-256", None, nodes[0]),
             ("p256-follower", "P-256", None, nodes[1]),
             ("p384", "P-384", None, nodes[2]),
             ("rsa2048", "RSA-2048", None, nodes[1]),
             ("protected", "P-256", PASSWORD, nodes[2])]
    for name, key_type, password, node in specs:
        extra = {"KeyType": key_type}
        if password:
            extra["Password"] = password
        _, crt, key, pfx = generate(cluster, name, "ValidUser", {"hr": "Read"},
                                    url=node.url, check_header=False, **extra)
        generated.append((name, crt, key, password))
        if password:  # the key and the PFX in the zip are protected
            assert b"ENCRYPTED" in read(key), read(key)[:60]
    # The keys are real: each secret is long and the search finds it in
    # the file the client received.
    for name, crt, key, password in generated:
        secrets = private_secrets(key, password)
        assert all(len(s) >= 32 for s in secrets), name
        if not password:
            assert search([key]), "the search does not find %s's own key file" % name


def test_certctl_generate_leaves_the_key_only_in_its_out_directory():
    out_dir = os.path.join(cluster.dir, "cli-out")
    os.makedirs(out_dir)
    p = cluster.certctl("certs", "generate", "--name", "cli-made", "--perm", "hr=Read",
                        "--out", out_dir)
    assert p.returncode == 0, p
    key = os.path.join(out_dir, "cli-made.key")
    generated.append(("cli-made", os.path.join(out_dir, "cli-made.crt"), key, None))
    for secret in private_secrets(key):
        for n in needles(secret):
            assert n not in (p.stdout + p.stderr).encode(), "certctl printed the key"


def force_snapshots():
    """Enough further entries that every node snapshots its state."""
    expect(cluster.request_leader("PUT", "/admin/databases", {"DatabaseName": "filler"}), 201)
    for i in range(40):
        expect(cluster.request_leader("PUT", "/databases/filler/docs?id=f%d" % i,
                                      {"i": i}), 201)
    for n in cluster.running_nodes():
        wait_until("a snapshot on node %d" % n.id, lambda: any(
            "snapshot" in os.path.basename(f) for f in data_files(n)), timeout=20)


def assert_nothing_leaked(when):
    for n in cluster.nodes.values():
        files = data_files(n)
        assert files, "node %d has no data files?" % n.id
        # Positive control: every node's files hold each certificate.
        for name, crt, _, _ in generated:
            point = public_point(crt)
            wait_until("node %d to store %s" % (n.id, name),
                       lambda: any(point in data for f in data_files(n)
                                   for data in stored_contents(f)), timeout=15)
        leaks = search(data_files(n)) + search([n.log_path])
        assert not leaks, "%s: private key material found:\n  %s" % (when, "\n  ".join(leaks))


def test_no_node_keeps_a_generated_key_while_running():
    force_snapshots()
    assert_nothing_leaked("while running")
    # Nor does any answer a node gives afterwards.
    lead = cluster.leader()
    bodies = [cluster.admin.request(lead.url, "GET", p).body for p in (
        "/admin/certificates?secondary=true", "/admin/audit", "/metrics",
        "/admin/certificates/export")]
    items = all_needles()
    for body in bodies:
        for what, n in items:
            assert n not in body, "a reply holds the key of %s" % what


def test_no_node_keeps_a_generated_key_after_a_clean_stop():
    cluster.stop()  # whatever is flushed at shutdown is on disk now
    assert_nothing_leaked("after stopping")


def main():
    global cluster
    with Cluster(3, tuning=TUNING) as c:
        cluster = c
        expect(c.request_leader("PUT", "/admin/databases", {"DatabaseName": "hr"}), 201)
        code = run_tests([
            test_generate_keys_of_every_type_through_every_node,
            test_certctl_generate_leaves_the_key_only_in_its_out_directory,
            test_no_node_keeps_a_generated_key_while_running,
            test_no_node_keeps_a_generated_key_after_a_clean_stop,
        ], cluster)
    sys.exit(code)


if __name__ == "__main__":
    main()
