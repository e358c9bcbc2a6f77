#!/usr/bin/env python3
"""Client CAs (CockroachDB's model) on a 3-node cluster.

- Leaf certificates of a CA made here authenticate after PUT
  /admin/client-ca, on every node, with the CA entry's clearance and
  permissions (whoami: AuthenticatedBy ClientCA, ClientCA, Name = CN); the
  audit log names them by CN. Full validation: an expired or not yet
  valid leaf, or one whose EKU lacks clientAuth, is refused; a leaf with
  no EKU is accepted.
- DELETE cuts them off on every node.
- APPEND then REPLACE rotates to a new CA with no moment in which both the
  old and the new client certificates fail (sampled continuously on every
  node); afterwards only the new one works, with the rights kept.
- A bundle that is not a CA certificate (or not PEM) is refused with 400
  and changes nothing.
- status: NOT_SET, PENDING (while the write waits for a quorum), IS_SET,
  FAILED (the node's last write of that name was refused).
- certctl client-ca put / patch / list / get / delete do the same.
"""

import sys
import threading

from certraft_cluster import Cluster, der_of_pem_file, run_tests, wait_until
from lifecycle_helpers import expect, expect_error, read
from trust_helpers import (Sampler, issue_dated, leaf, make_ca, new_key,
                           self_signed, thumbprint_of, whoami)

cluster = None


def all_nodes():
    return [cluster.leader()] + cluster.followers()


def pem(path):
    return read(path).decode()


def put_ca(name, bundle, clearance="ValidUser", permissions=None, method="PUT",
           mode=None, url=None):
    body = {"Name": name, "x509_pem_cert": bundle}
    if clearance is not None:
        body["SecurityClearance"] = clearance
    if permissions is not None:
        body["Permissions"] = permissions
    if mode is not None:
        body["Mode"] = mode
    return cluster.admin.request(url or cluster.leader().url, method, "/admin/client-ca", body)


def get_ca(node, name):
    return expect(cluster.admin.request(node.url, "GET", "/admin/client-ca?name=" + name),
                  200, "GET client-ca %s on node %d" % (name, node.id)).json()


def ders_of_bundle(text):
    """DERs of the PEM blocks in a bundle, in order."""
    import ssl
    out = []
    marker = "-----BEGIN CERTIFICATE-----"
    for chunk in text.split(marker)[1:]:
        block = marker + chunk.split("-----END CERTIFICATE-----")[0] + \
            "-----END CERTIFICATE-----\n"
        out.append(ssl.PEM_cert_to_DER_cert(block))
    return out


def works(client, node):
    """True for 200, False for 403; anything else is a failure too."""
    try:
        r = whoami(client, node.url)
    except Exception as exc:  # recorded, counts as not working
        return "error: %r" % exc
    return True if r.status == 200 else (False if r.status == 403 else "status %d" % r.status)


def accepted_everywhere(client, what, timeout=15):
    for n in cluster.running_nodes():
        wait_until("%s accepted by node %d" % (what, n.id),
                   lambda: works(client, n) is True, timeout=timeout)


def refused_everywhere(client, what, timeout=15):
    for n in cluster.running_nodes():
        wait_until("%s refused by node %d" % (what, n.id),
                   lambda: works(client, n) is False, timeout=timeout)


def test_leaves_authenticate_with_the_ca_entrys_rights_on_every_node():
    d = cluster.dir
    ca = make_ca(d, "team-ca")
    alice = leaf(d, "alice", ca)
    no_eku = leaf(d, "carol", ca, eku=None)
    server_only = leaf(d, "server-only", ca, eku="serverAuth")
    expired = issue_dated(d, "expired", ca[0], ca[1], "20200101000000Z", "20200201000000Z")
    future = issue_dated(d, "future", ca[0], ca[1], "20400101000000Z", "20410101000000Z")
    client = cluster.client(*alice)
    t_alice = thumbprint_of(alice[0])

    for n in all_nodes():
        expect_error(whoami(client, n.url), 403, "unknown certificate " + t_alice,
                     what="alice before the CA is registered (node %d)" % n.id)
        assert get_ca(n, "team")["status"] == "NOT_SET"

    r = expect(put_ca("team", pem(ca[0]), "ValidUser", {"shared": "ReadWrite"},
                      url=cluster.followers()[0].url), 200, "PUT client-ca (via a follower)")
    body = r.json()
    assert body["Name"] == "team" and body["status"] == "IS_SET", body
    assert ders_of_bundle(body["x509_pem_cert"]) == [der_of_pem_file(ca[0])], body

    accepted_everywhere(client, "alice")
    for n in all_nodes():
        got = get_ca(n, "team")
        assert got["status"] == "IS_SET", (n.id, got)
        assert ders_of_bundle(got["x509_pem_cert"]) == [der_of_pem_file(ca[0])], got
        listed = expect(cluster.admin.request(n.url, "GET", "/admin/client-ca"), 200).json()
        assert [x["Name"] for x in listed["Results"]] == ["team"], listed
        me = expect(whoami(client, n.url), 200).json()
        assert me.get("AuthenticatedBy") == "ClientCA" and me.get("ClientCA") == "team", me
        assert me["Name"] == "alice" and me["Thumbprint"] == t_alice, me
        assert me["SecurityClearance"] == "ValidUser", me
        assert me["Permissions"] == {"shared": "ReadWrite"}, me
        expect(client.request(n.url, "PUT", "/databases/shared/docs?id=alice/%d" % n.id,
                              {"by": "alice"}), 201, "alice writes via node %d" % n.id)
        expect_error(client.request(n.url, "PUT", "/databases/private/docs?id=x", {}), 403,
                     "private", what="alice writes to private")
        expect_error(client.request(n.url, "GET", "/admin/certificates"), 403,
                     what="alice lists certificates")
    # Leaf certificates are not registered by the CA: nothing was added.
    for n in all_nodes():
        r = cluster.admin.request(n.url, "GET", "/admin/certificates?thumbprint=" + t_alice)
        assert r.status == 404, ("a client-CA leaf was registered", r)

    # Full validation of the leaf.
    accepted_everywhere(cluster.client(*no_eku), "a leaf without EKU")
    for what, (crt, key) in (("a leaf whose EKU lacks clientAuth", server_only),
                             ("an expired leaf", expired),
                             ("a leaf not valid yet", future)):
        for n in all_nodes():
            expect_error(whoami(cluster.client(crt, key), n.url), 403,
                         what="%s on node %d" % (what, n.id))
    # A certificate with the CA's subject, signed by another key: no.
    fake_ca = make_ca(d, "fake-team-ca", cn="team-ca")
    mallory = leaf(d, "mallory", fake_ca)
    expect_error(whoami(cluster.client(*mallory), cluster.leader().url), 403,
                 what="a leaf of a CA that only has the same name")

    # An Operator CA: its leaf creates a database; the audit names it by CN.
    ops_ca = make_ca(d, "ops-ca")
    bob = leaf(d, "bob", ops_ca)
    expect(put_ca("ops", pem(ops_ca[0]), "Operator", {}), 200)
    bob_client = cluster.client(*bob)
    accepted_everywhere(bob_client, "bob")
    expect(bob_client.request(cluster.followers()[1].url, "PUT", "/admin/databases",
                              {"DatabaseName": "bobs"}), 201, "bob creates a database")
    records = expect(cluster.admin.request(cluster.leader().url, "GET",
                                           "/admin/audit?pageSize=1000"), 200).json()["Results"]
    mine = [a for a in records if a["Operation"] == "DatabasePut" and a["Target"] == "bobs"]
    assert len(mine) == 1, records[-5:]
    assert mine[0]["CallerName"] == "bob", mine
    assert mine[0]["Caller"] == thumbprint_of(bob[0]) and mine[0]["Status"] == "OK", mine
    expect_error(bob_client.request(cluster.leader().url, "PUT", "/admin/client-ca",
                                    {"Name": "x", "x509_pem_cert": pem(ops_ca[0])}),
                 403, what="an Operator manages client CAs")


def test_delete_cuts_the_cas_certificates_off_on_every_node():
    d = cluster.dir
    ca = make_ca(d, "temp-ca")
    dave = cluster.client(*leaf(d, "dave", ca))
    expect(put_ca("temp", pem(ca[0]), "ValidUser", {"shared": "Read"}), 200)
    accepted_everywhere(dave, "dave")
    r = expect(cluster.admin.request(cluster.followers()[1].url, "DELETE",
                                     "/admin/client-ca?name=temp"), 200, "DELETE client-ca")
    assert r.json()["status"] == "NOT_SET", r
    refused_everywhere(dave, "dave after the delete", timeout=10)
    for n in all_nodes():
        assert get_ca(n, "temp")["status"] == "NOT_SET"
        names = [x["Name"] for x in expect(cluster.admin.request(
            n.url, "GET", "/admin/client-ca"), 200).json()["Results"]]
        assert "temp" not in names, names
    expect_error(cluster.admin.request(cluster.leader().url, "DELETE",
                                       "/admin/client-ca?name=temp"), 404, "temp",
                 what="deleting it again")


def test_append_then_replace_rotates_with_no_window():
    d = cluster.dir
    old_ca = make_ca(d, "rot-old-ca")
    new_ca = make_ca(d, "rot-new-ca")
    old = cluster.client(*leaf(d, "rot-old", old_ca))
    new = cluster.client(*leaf(d, "rot-new", new_ca))
    nodes = all_nodes()
    expect(put_ca("rot", pem(old_ca[0]), "ValidUser", {"shared": "ReadWrite"}), 200)
    accepted_everywhere(old, "the old CA's client")
    refused_everywhere(new, "the new CA's client before APPEND")

    def probe():
        return [(n.id, works(old, n), works(new, n)) for n in nodes]
    def sampled(state):
        """Every node has been sampled in `state` (old works, new works)."""
        got = {nid for _, rows in list(sampler.samples) for nid, o, nw in rows
               if (o is True, nw is True) == state}
        return got >= {n.id for n in nodes}

    sampler = Sampler(probe, interval=0.01)
    sampler.start()
    try:
        wait_until("samples of the old CA alone", lambda: sampled((True, False)), timeout=20)
        r = expect(put_ca("rot", pem(new_ca[0]), None, None, method="PATCH", mode="APPEND",
                          url=nodes[1].url), 200, "PATCH APPEND")
        assert ders_of_bundle(r.json()["x509_pem_cert"]) == [
            der_of_pem_file(old_ca[0]), der_of_pem_file(new_ca[0])], r
        accepted_everywhere(new, "the new CA's client after APPEND")
        for n in nodes:  # both work now
            assert works(old, n) is True and works(new, n) is True, n.id
        wait_until("samples of both CAs working", lambda: sampled((True, True)), timeout=20)
        r = expect(put_ca("rot", pem(new_ca[0]), None, None, method="PATCH", mode="REPLACE",
                          url=nodes[2].url), 200, "PATCH REPLACE")
        got = r.json()
        assert ders_of_bundle(got["x509_pem_cert"]) == [der_of_pem_file(new_ca[0])], got
        assert got["SecurityClearance"] == "ValidUser", got
        assert got["Permissions"] == {"shared": "ReadWrite"}, got
        refused_everywhere(old, "the old CA's client after REPLACE")
        wait_until("samples of the new CA alone", lambda: sampled((False, True)), timeout=20)
    finally:
        samples = sampler.stop()
    bad = [(t, row) for t, rows in samples for row in rows
           if row[1] is not True and row[2] is not True]
    assert not bad, ("%d of %d samples had neither client working, first: %r" % (
        len(bad), len(samples) * len(nodes), bad[:3]))
    for n in nodes:
        assert works(new, n) is True and works(old, n) is False, n.id
        me = expect(whoami(new, n.url), 200).json()
        assert (me["ClientCA"], me["Permissions"]) == ("rot", {"shared": "ReadWrite"}), me
    # Transitions observed: old only -> both -> new only, on every node.
    phases = {n.id: [] for n in nodes}
    for _, rows in samples:
        for nid, o, nw in rows:
            state = (o is True, nw is True)
            if not phases[nid] or phases[nid][-1] != state:
                phases[nid].append(state)
    for nid, seq in phases.items():
        assert seq == [(True, False), (True, True), (False, True)], (nid, seq)


def test_a_bundle_that_is_not_a_ca_is_refused():
    d = cluster.dir
    ca = make_ca(d, "good-ca")
    expect(put_ca("keep", pem(ca[0]), "ValidUser", {"shared": "Read"}), 200)
    erin = cluster.client(*leaf(d, "erin", ca))
    accepted_everywhere(erin, "erin")
    not_ca = self_signed(d, "not-a-ca", new_key(d, "not-a-ca"))  # no CA:TRUE
    sign_less = make_ca(d, "no-keycertsign")  # replaced below without keyCertSign
    from certraft_cluster import openssl
    openssl("req", "-x509", "-key", sign_less[1], "-out", sign_less[0], "-days", "30",
            "-subj", "/CN=no-keycertsign", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature")
    leaf_crt, _ = leaf(d, "a-leaf", ca)
    cases = [
        ("a self-signed non-CA", pem(not_ca), "not a CA"),
        ("a CA without keyCertSign", pem(sign_less[0]), "keyCertSign"),
        ("a leaf", pem(leaf_crt), "not a CA"),
        ("a CA followed by a leaf", pem(ca[0]) + pem(leaf_crt), "certificate 2"),
        ("no PEM at all", "hello", "PEM"),
    ]
    before = {n.id: get_ca(n, "keep") for n in all_nodes()}
    for what, bundle, word in cases:
        expect_error(put_ca("bad", bundle), 400, word, what="PUT " + what)
        expect_error(put_ca("keep", bundle, None, None, method="PATCH", mode="APPEND"), 400,
                     word, what="PATCH APPEND " + what)
        expect_error(put_ca("keep", bundle, None, None, method="PATCH", mode="REPLACE"), 400,
                     word, what="PATCH REPLACE " + what)
    expect_error(put_ca("keep", pem(ca[0]), None, None, method="PATCH", mode="MERGE"), 400,
                 "APPEND", what="an unknown Mode")
    expect_error(put_ca("absent", pem(ca[0]), None, None, method="PATCH", mode="APPEND"), 404,
                 "absent", what="PATCH of a CA that does not exist")
    expect_error(put_ca("", pem(ca[0])), 400, "Name", what="no Name")
    for n in all_nodes():
        after = get_ca(n, "keep")
        for k in ("Name", "x509_pem_cert", "SecurityClearance", "Permissions"):
            assert after[k] == before[n.id][k], ("a refused write changed %s" % k, after)
        assert get_ca(n, "bad")["x509_pem_cert"] == "", "a refused PUT stored something"
        assert "bad" not in [x["Name"] for x in expect(cluster.admin.request(
            n.url, "GET", "/admin/client-ca"), 200).json()["Results"]]
    accepted_everywhere(erin, "erin after the refused writes")


def test_status_values():
    d = cluster.dir
    lead = cluster.leader()
    assert get_ca(lead, "never-set")["status"] == "NOT_SET"
    ca = make_ca(d, "status-ca")
    # PENDING: the write waits for a quorum (the two followers paused).
    followers = cluster.followers()
    result = {}

    def put():
        result["r"] = put_ca("st", pem(ca[0]), url=lead.url)
    for f in followers:
        f.pause()
    try:
        t = threading.Thread(target=put)
        t.start()
        seen = wait_until("status PENDING on the leader while the write waits",
                          lambda: get_ca(lead, "st")["status"] == "PENDING" and "PENDING",
                          timeout=5, interval=0.01)
        assert seen == "PENDING"
    finally:
        for f in followers:
            f.resume()
    t.join(30)
    assert not t.is_alive(), "the PUT did not finish once the quorum was back"
    expect(result["r"], 200, "the PUT that waited for a quorum")
    for n in all_nodes():
        wait_until("status IS_SET on node %d" % n.id,
                   lambda: get_ca(n, "st")["status"] == "IS_SET", timeout=15)
    # FAILED: the node's last write of that name was refused ...
    lead = cluster.leader()
    not_ca = self_signed(d, "status-not-ca", new_key(d, "status-not-ca"))
    expect_error(put_ca("st", pem(not_ca), None, None, method="PATCH", mode="APPEND",
                        url=lead.url), 400, "not a CA", what="a refused PATCH")
    got = get_ca(lead, "st")
    assert got["status"] == "FAILED", got
    # ... while the bundle itself is unchanged, and a good write clears it.
    assert len(got.get("x509_pem_cert", "")) > 0 and \
        ders_of_bundle(got["x509_pem_cert"]) == [der_of_pem_file(ca[0])], got
    expect(put_ca("st", pem(ca[0]), url=lead.url), 200)
    assert get_ca(lead, "st")["status"] == "IS_SET"
    expect(cluster.admin.request(lead.url, "DELETE", "/admin/client-ca?name=st"), 200)
    assert get_ca(lead, "st")["status"] == "NOT_SET"


def test_certctl_client_ca_commands():
    d = cluster.dir
    ca, ca2 = make_ca(d, "cli-ca"), make_ca(d, "cli-ca2")
    c1, c2 = cluster.client(*leaf(d, "cli-one", ca)), cluster.client(*leaf(d, "cli-two", ca2))

    def certctl(*args):
        p = cluster.certctl(*args)
        assert p.returncode == 0, p
        return p.stdout
    out = certctl("client-ca", "put", "cli", "--file", ca[0], "--perm", "shared=Read")
    assert "Status:" in out and "IS_SET" in out and thumbprint_of(ca[0]) in out, out
    accepted_everywhere(c1, "a leaf of the CA put with certctl")
    certctl("client-ca", "patch", "cli", "--file", ca2[0], "--mode", "APPEND")
    accepted_everywhere(c2, "a leaf of the CA appended with certctl")
    import json
    listed = json.loads(certctl("--output", "json", "client-ca", "list"))
    got = [x for x in listed["Results"] if x["Name"] == "cli"]
    assert len(got) == 1 and got[0]["Certificates"] == 2, listed
    pem_out = certctl("client-ca", "get", "cli", "--pem")
    assert ders_of_bundle(pem_out) == [der_of_pem_file(ca[0]), der_of_pem_file(ca2[0])]
    certctl("client-ca", "patch", "cli", "--file", ca2[0], "--mode", "REPLACE")
    refused_everywhere(c1, "the replaced CA's leaf")
    assert "deleted client CA cli" in certctl("client-ca", "delete", "cli")
    refused_everywhere(c2, "the deleted CA's leaf")
    assert json.loads(certctl("--output", "json", "client-ca", "get", "cli"))["status"] == \
        "NOT_SET"


def main():
    global cluster
    with Cluster(3) as c:
        cluster = c
        for db in ("shared", "private"):
            expect(c.request_leader("PUT", "/admin/databases", {"DatabaseName": db}), 201)
        code = run_tests([
            test_leaves_authenticate_with_the_ca_entrys_rights_on_every_node,
            test_delete_cuts_the_cas_certificates_off_on_every_node,
            test_append_then_replace_rotates_with_no_window,
            test_a_bundle_that_is_not_a_ca_is_refused,
            test_status_values,
            test_certctl_client_ca_commands,
        ], c)
    sys.exit(code)


if __name__ == "__main__":
    main()
