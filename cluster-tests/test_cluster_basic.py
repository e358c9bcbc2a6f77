#!/usr/bin/env python3
"""A 3-node cluster of real certnode processes: replication through any
node, authentication (401 / 403 with the thumbprint), deletion seen by
every node, linearizable reads, and the data directory's permissions."""

import base64
import os
import stat
import sys

from certraft_cluster import Cluster, openssl, run_tests, thumbprint_of, wait_until

cluster = None


def test_upload_on_follower_appears_on_all_three():
    crt, key = cluster.new_cert("alice")
    follower = cluster.followers()[0]
    r = cluster.admin.request(follower.url, "PUT", "/admin/certificates",
                              cluster.upload_body("alice", crt, "ValidUser", {"hr": "Read"}))
    assert r.status == 201, r
    thumb = thumbprint_of(crt)
    assert r.json()["Thumbprint"] == thumb, r
    for n in cluster.nodes.values():
        wait_until("alice on node %d" % n.id,
                   lambda: thumb in cluster.thumbprints_on(n), timeout=10)
    # The new certificate authenticates on every node, with its rights.
    alice = cluster.client(crt, key)
    for n in cluster.nodes.values():
        who = alice.request(n.url, "GET", "/certificates/whoami")
        assert who.status == 200, who
        e = who.json()
        assert e["Name"] == "alice" and e["SecurityClearance"] == "ValidUser", e
        assert e["Permissions"] == {"hr": "Read"}, e


def test_no_certificate_gets_401():
    anon = cluster.client()
    for n in cluster.nodes.values():
        r = anon.request(n.url, "GET", "/certificates/whoami")
        assert r.status == 401, r
        assert "no client certificate" in r.json()["Error"], r


def test_unregistered_certificate_gets_403_with_thumbprint():
    crt, key = cluster.new_cert("stranger")
    thumb = thumbprint_of(crt)
    stranger = cluster.client(crt, key)
    for n in cluster.nodes.values():
        r = stranger.request(n.url, "GET", "/certificates/whoami")
        assert r.status == 403, r
        assert thumb in r.json()["Error"], r
    # Also for writes sent to a follower (refused by the leader).
    r = stranger.request(cluster.followers()[0].url, "PUT", "/admin/certificates",
                         cluster.upload_body("x", crt))
    assert r.status == 403, r


def test_deleted_certificate_is_refused_by_every_node():
    crt, key = cluster.new_cert("bob")
    r = cluster.request_leader("PUT", "/admin/certificates",
                               cluster.upload_body("bob", crt, "Operator"))
    assert r.status == 201, r
    thumb = r.json()["Thumbprint"]
    bob = cluster.client(crt, key)
    for n in cluster.nodes.values():
        wait_until("bob accepted on node %d" % n.id,
                   lambda: bob.request(n.url, "GET", "/certificates/whoami").status == 200,
                   timeout=10)
    follower = cluster.followers()[0]
    r = cluster.admin.request(follower.url, "DELETE", "/admin/certificates?thumbprint=" + thumb)
    assert r.status == 200, r
    for n in cluster.nodes.values():
        wait_until("bob refused on node %d" % n.id,
                   lambda: bob.request(n.url, "GET", "/certificates/whoami").status == 403,
                   timeout=5)
    # Deleting again: 404, and nothing else changed.
    before = cluster.registries_agree()
    r = cluster.request_leader("DELETE", "/admin/certificates?thumbprint=" + thumb)
    assert r.status == 404, r
    assert cluster.registries_agree() == before


def test_linearizable_read_on_follower_sees_acknowledged_write():
    for i in range(5):
        crt, _ = cluster.new_cert("lin%d" % i)
        r = cluster.request_leader("PUT", "/admin/certificates",
                                   cluster.upload_body("lin%d" % i, crt))
        assert r.status == 201, r
        thumb = r.json()["Thumbprint"]
        for f in cluster.followers():
            got = cluster.admin.request(
                f.url, "GET",
                "/admin/certificates?thumbprint=%s&consistency=linearizable" % thumb)
            assert got.status == 200, got
            assert got.json()["Results"][0]["Thumbprint"] == thumb


def test_bad_input_changes_nothing():
    before = cluster.registries_agree()
    leader = cluster.leader()
    cases = [
        (b"not json", 400),
        ({"Name": "x"}, 400),
        ({"Name": "", "Certificate": "AAAA"}, 400),
        ({"Name": "x", "Certificate": "!!!not base64!!!"}, 400),
        ({"Name": "x", "Certificate": "aGVsbG8gd29ybGQ="}, 400),
        ({"Name": "x", "Certificate": "aGVsbG8=", "SecurityClearance": "God"}, 400),
    ]
    for body, status in cases:
        r = cluster.admin.request(leader.url, "PUT", "/admin/certificates", body)
        assert r.status == status, (body, r)
        assert r.json()["Error"], r
    r = cluster.admin.request(leader.url, "PUT", "/admin/certificates",
                              b"{" + b" " * (5 * 1024 * 1024) + b"}")
    assert r.status == 413, r
    r = cluster.admin.request(leader.url, "DELETE", "/admin/certificates?thumbprint=nothex")
    assert r.status == 400, r
    r = cluster.admin.request(leader.url, "GET", "/no/such/endpoint")
    assert r.status == 404, r
    assert cluster.registries_agree() == before


def test_data_directories_are_private():
    for n in cluster.nodes.values():
        mode = stat.S_IMODE(os.stat(n.data).st_mode)
        assert mode == 0o700, "node %d data dir mode %o" % (n.id, mode)
        key = os.path.join(n.data, "cluster.key")
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def private_scalar(key_path):
    """The secret bytes of an EC private key (not the shared DER prefix)."""
    der = openssl("pkey", "-in", key_path, "-outform", "DER")
    at = der.index(b"\x02\x01\x01\x04\x20") + 5
    return der[at:at + 32]


def test_admin_private_key_is_nowhere_in_data_directories():
    secret = private_scalar(cluster.admin_key)
    needles = [secret, base64.b64encode(secret)[:40], secret.hex().encode(),
               secret.hex().upper().encode()]
    for n in cluster.nodes.values():
        for root, _, files in os.walk(n.data):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    data = f.read()
                for needle in needles:
                    assert needle not in data, os.path.join(root, name)
        log = n.log().encode()
        assert not any(needle in log for needle in needles)


def main():
    global cluster
    with Cluster(3) as c:
        cluster = c
        code = run_tests([
            test_upload_on_follower_appears_on_all_three,
            test_no_certificate_gets_401,
            test_unregistered_certificate_gets_403_with_thumbprint,
            test_deleted_certificate_is_refused_by_every_node,
            test_linearizable_read_on_follower_sees_acknowledged_write,
            test_bad_input_changes_nothing,
            test_data_directories_are_private,
            test_admin_private_key_is_nowhere_in_data_directories,
        ], cluster)
    sys.exit(code)


if __name__ == "__main__":
    main()
