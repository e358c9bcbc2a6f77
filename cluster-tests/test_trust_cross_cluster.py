#!/usr/bin/env python3
"""Trust between two clusters that survives a renewal of the trusted one.

- Cluster B uploads cluster A's export (public certificates only) as a
  ValidUser with ReadWrite on B's `shared` database; A's own server
  certificate and key (a node's data dir cluster.crt/cluster.key) then
  write to B (201), and nothing beyond what B granted.
- A renews its cluster certificate (renew-cluster-cert: same key, new
  validity) and reaches phase Done. With A's new server certificate
  (re-read from the data dir) the write to B works again, with no action
  on B: implicit trust by pinning hash, both self-signed. B registers it
  under the same name and rights, on every node, audited once.
- A replacement with a new key is not a renewal: B refuses it until B
  uploads A's new export.
"""

import base64
import os
import sys

from certraft_cluster import Cluster, der_of_pem_file, run_tests, wait_until
from lifecycle_helpers import expect, expect_error, pfx_certificates, read, upload_body
from trust_helpers import (ClusterTrust, audit_ops, entries_with, make_cluster_pfx, pin_of,
                           served_thumbprint, thumbprint_of, wait_phase, whoami)

A = B = None
trust_a = None  # what A's admin trusts as A rotates


def nodes(c):
    return [c.leader()] + c.followers()


def a_server_cert(node_id=2):
    """A's server certificate and key, as a node of A holds them now."""
    n = A.nodes[node_id]
    return os.path.join(n.data, "cluster.crt"), os.path.join(n.data, "cluster.key")


def export_of(c):
    r = expect(c.admin.request(c.leader().url, "GET", "/admin/certificates/export"), 200,
               "export")
    return r.body


def write_to_b(client, doc, what):
    out = {}
    for i, n in enumerate(nodes(B)):
        out[n.id] = client.request(n.url, "PUT", "/databases/shared/docs?id=%s/%d" % (doc, i),
                                   {"from": "cluster A", "via": n.id})
        expect(out[n.id], 201, "%s via B's node %d" % (what, n.id))
    return out


def b_registry():
    return {n.id: sorted(e["Thumbprint"] for e in B.admin.request(
        n.url, "GET", "/admin/certificates?secondary=true").json()["Results"])
        for n in nodes(B)}


def test_b_trusts_as_export_then_a_writes():
    a_crt, a_key = a_server_cert()
    a_thumb = thumbprint_of(a_crt)
    assert a_thumb == served_thumbprint(A.leader().url)
    as_a = B.client(a_crt, a_key)
    expect_error(as_a.request(B.leader().url, "PUT", "/databases/shared/docs?id=early", {}),
                 403, a_thumb, what="A's server certificate before B trusts it")
    export = export_of(A)
    ders, has_key = pfx_certificates(export, "")
    assert not has_key and ders == [der_of_pem_file(a_crt)], "A's export"
    r = B.admin.request(B.followers()[0].url, "PUT", "/admin/certificates",
                        upload_body("cluster A", export, "ValidUser", {"shared": "ReadWrite"},
                                    password=""))
    expect(r, 201, "B uploads A's export")
    assert r.json()["Thumbprint"] == a_thumb, r
    for n in nodes(B):
        wait_until("A's certificate on B's node %d" % n.id,
                   lambda: entries_with(B, n, a_thumb), timeout=10)
    write_to_b(as_a, "before-renew", "A writes to B")
    expect_error(as_a.request(B.leader().url, "PUT", "/databases/secret/docs?id=x", {}), 403,
                 "secret", what="A writes to B's secret")


def test_after_a_renews_its_new_certificate_writes_to_b_with_no_action_on_b():
    old_crt, _ = a_server_cert()
    old_thumb = thumbprint_of(old_crt)
    old_pin = pin_of(old_crt)
    b_before = b_registry()
    b_audit_before = len(audit_ops(B, B.leader(), "CertImplicitTrust"))

    lead = A.leader()
    r = expect(A.admin.request(lead.url, "POST", "/admin/certificates/renew-cluster-cert",
                               {"ExpirationDays": 200}), 202, "A renews its certificate")
    new_thumb = r.json()["Thumbprint"]
    assert new_thumb != old_thumb, r
    trust_a.add_new(lead, new_thumb)
    wait_phase(A.admin, nodes(A), "Done", timeout=60)
    for n in A.nodes.values():
        wait_until("A's node %d to hold the renewed certificate" % n.id,
                   lambda: thumbprint_of(os.path.join(n.data, "cluster.crt")) == new_thumb,
                   timeout=15)
        assert served_thumbprint(n.url) == new_thumb, "A's node %d serves the old one" % n.id

    new_crt, new_key = a_server_cert(node_id=3)  # re-read: what A's nodes hold now
    assert thumbprint_of(new_crt) == new_thumb and pin_of(new_crt) == old_pin, (
        "a renewal keeps the key")
    assert b_registry() == b_before, "B changed before A's new certificate was used"

    as_new_a = B.client(new_crt, new_key)
    first = B.followers()[1]
    me = expect(whoami(as_new_a, first.url), 200, "A's renewed certificate on B").json()
    assert me.get("AuthenticatedBy") == "ImplicitTrust" and me.get("MatchedThumbprint") == \
        old_thumb, me
    assert (me["Name"], me["SecurityClearance"], me["Permissions"]) == (
        "cluster A", "ValidUser", {"shared": "ReadWrite"}), me
    write_to_b(as_new_a, "after-renew", "A's renewed certificate writes to B")
    expect_error(as_new_a.request(B.leader().url, "PUT", "/databases/secret/docs?id=x", {}),
                 403, "secret", what="A's renewed certificate writes to B's secret")
    # B registered it by itself, on every node, with the same name and rights.
    for n in nodes(B):
        e = wait_until("A's renewed certificate registered on B's node %d" % n.id,
                       lambda: entries_with(B, n, new_thumb), timeout=15)[0]
        assert (e["Name"], e["SecurityClearance"], e["Permissions"]) == (
            "cluster A", "ValidUser", {"shared": "ReadWrite"}), e
    after = b_registry()
    for nid, thumbs in after.items():
        assert sorted(set(thumbs) - set(b_before[nid])) == [new_thumb], (nid, thumbs)
    recs = audit_ops(B, B.leader(), "CertImplicitTrust")
    assert len(recs) - b_audit_before == 1, (
        "B's audit should show one implicit-trust registration of A's renewed certificate, "
        "found %d: %r" % (len(recs) - b_audit_before, recs[b_audit_before:]))
    assert recs[-1]["Target"] == new_thumb, recs[-1]
    doc = expect(B.admin.request(B.leader().url, "GET", "/databases/shared/docs?id=after-renew/0"),
                 200, "read A's write on B").json()
    assert doc.get("from") == "cluster A", doc


def test_a_new_key_is_not_a_renewal():
    d = A.dir
    pfx, crt, _ = make_cluster_pfx(d, "a-replacement", password="")
    new_thumb = thumbprint_of(crt)
    trust_a.add(crt)
    lead = A.leader()
    expect(A.admin.request(lead.url, "POST", "/admin/certificates/replace-cluster-cert",
                           {"Certificate": base64.b64encode(read(pfx)).decode()}), 202,
           "A replaces its certificate with a new key")
    wait_phase(A.admin, nodes(A), "Done", timeout=60)
    for n in A.nodes.values():
        wait_until("A's node %d to hold the replacement" % n.id,
                   lambda: thumbprint_of(os.path.join(n.data, "cluster.crt")) == new_thumb,
                   timeout=15)
    rep_crt, rep_key = a_server_cert()
    as_replaced = B.client(rep_crt, rep_key)
    expect_error(whoami(as_replaced, B.leader().url), 403, "unknown certificate " + new_thumb,
                 what="A's replacement (new key) on B")
    r = B.admin.request(B.leader().url, "PUT", "/admin/certificates",
                        upload_body("cluster A (replaced)", export_of(A), "ValidUser",
                                    {"shared": "ReadWrite"}, password=""))
    expect(r, 201, "B uploads A's new export")
    for n in nodes(B):
        wait_until("A's replacement on B's node %d" % n.id,
                   lambda: entries_with(B, n, new_thumb), timeout=10)
    write_to_b(as_replaced, "after-replace", "A's replacement writes to B")


def main():
    global A, B, trust_a
    with Cluster(3) as a, Cluster(3) as b:
        A, B = a, b
        trust_a = ClusterTrust(a)
        for db in ("shared", "secret"):
            expect(b.request_leader("PUT", "/admin/databases", {"DatabaseName": db}), 201)
        code = run_tests([
            test_b_trusts_as_export_then_a_writes,
            test_after_a_renews_its_new_certificate_writes_to_b_with_no_action_on_b,
            test_a_new_key_is_not_a_renewal,
        ], a)
        if code:
            b.dump_logs()
    sys.exit(code)


if __name__ == "__main__":
    main()
