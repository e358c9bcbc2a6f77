#!/usr/bin/env python3
"""Certificate collections and trust between clusters.

- A PFX bundle is one registry entry: its CA members are skipped, the
  certificate with the key is the primary, the others are secondaries;
  every member authenticates with the primary's rights on every node;
  a secondary cannot be deleted (or edited) alone; deleting the primary
  removes them all. A PEM bundle works the same, and keys in it are
  dropped.
- Cluster A exports its server certificate(s) (public only); a second,
  separate cluster B uploads that export as a ValidUser with ReadWrite on
  B's `shared` database; a client presenting A's own server certificate
  and key (a node's cluster.crt/cluster.key) then writes to B.
"""

import os
import sys

from certraft_cluster import Cluster, run_tests, thumbprint_of, wait_until
from lifecycle_helpers import (assert_unchanged, der_of, expect, expect_error,
                               make_ca, make_leaf, make_pfx, pfx_certificates,
                               read, sha256_hex, snapshot, upload_body)

cluster = None   # A
other = None     # B


def nodes(c):
    return [c.leader()] + c.followers()


def members_authenticate_as(c, members, name, clearance, permissions):
    for crt, key in members:
        client = c.client(crt, key)
        for n in c.running_nodes():
            wait_until("%s on node %d" % (os.path.basename(crt), n.id),
                       lambda: client.request(n.url, "GET", "/certificates/whoami").status == 200,
                       timeout=10)
            e = client.request(n.url, "GET", "/certificates/whoami").json()
            assert (e["Name"], e["SecurityClearance"], e["Permissions"]) == (
                name, clearance, permissions), (crt, n.id, e)


def test_pfx_collection_every_member_has_the_primarys_rights():
    d = cluster.dir
    ca, ca_key = make_ca(d, "team-ca")
    b = make_leaf(d, "member-b", ca, ca_key)
    c = make_leaf(d, "member-c", ca, ca_key)
    a = cluster.new_cert("member-a")
    pfx = make_pfx(os.path.join(d, "team.pfx"), a[0], a[1], [b[0], c[0], ca],
                   password="team-pass")
    ta, tb, tc, tca = (thumbprint_of(x) for x in (a[0], b[0], c[0], ca))
    follower = cluster.followers()[0]
    r = cluster.admin.request(follower.url, "PUT", "/admin/certificates", upload_body(
        "team", read(pfx), "ValidUser", {"shared": "ReadWrite"}, password="team-pass"))
    expect(r, 201, "upload the PFX collection")
    assert r.json()["Thumbprint"] == ta, r
    assert sorted(r.json()["SecondaryThumbprints"]) == sorted([tb, tc]), r

    lead = cluster.leader()
    listed = cluster.admin.request(lead.url, "GET", "/admin/certificates?name=team").json()
    assert [e["Thumbprint"] for e in listed["Results"]] == [ta], listed
    assert sorted(listed["Results"][0]["CollectionSecondaryKeys"]) == sorted([tb, tc]), listed
    everything = snapshot(cluster, lead)["certs"]
    assert tca not in everything, "the bundle's CA was registered"
    for t in (tb, tc):
        e = everything[t]
        assert e["CollectionPrimaryKey"] == ta and e["Name"] == "team", e
        assert e["Permissions"] == {"shared": "ReadWrite"}, e
    got = cluster.admin.request(lead.url, "GET", "/admin/certificates?thumbprint=" + tb)
    assert expect(got, 200).json()["Results"][0]["CollectionPrimaryKey"] == ta, got

    members = [a, b, c]
    members_authenticate_as(cluster, members, "team", "ValidUser", {"shared": "ReadWrite"})
    for i, (crt, key) in enumerate(members):
        client = cluster.client(crt, key)
        n = nodes(cluster)[i % 3]
        expect(client.request(n.url, "PUT", "/databases/shared/docs?id=team/%d" % i,
                              {"by": i}), 201, "member %d writes to shared" % i)
        expect_error(client.request(n.url, "PUT", "/databases/private/docs?id=x", {}),
                     403, "private", what="member %d writes to private" % i)
        expect_error(client.request(n.url, "GET", "/admin/certificates"), 403,
                     what="member %d lists certificates" % i)
    # The CA of the bundle is not a member: refused.
    expect_error(cluster.client(ca, ca_key).request(lead.url, "GET", "/certificates/whoami"),
                 403, tca, what="the bundle's CA")

    # Editing the primary changes every member's rights.
    expect(cluster.request_leader("POST", "/admin/certificates/edit",
                                  {"Thumbprint": ta, "Permissions": {"shared": "Read"}}), 200)
    for crt, key in members:
        r = cluster.client(crt, key).request(lead.url, "PUT", "/databases/shared/docs?id=z", {})
        expect_error(r, 403, "ReadWrite", what="a member after the primary became Read")

    # A secondary alone can be neither deleted nor edited; nothing changes.
    before = snapshot(cluster, lead)
    expect_error(cluster.request_leader("DELETE", "/admin/certificates?thumbprint=" + tb),
                 409, ta, what="delete a secondary")
    expect_error(cluster.request_leader("POST", "/admin/certificates/edit",
                                        {"Thumbprint": tc, "Name": "renamed"}),
                 409, ta, what="edit a secondary")
    assert_unchanged(before, snapshot(cluster, lead), "refused secondary operations")

    # Deleting the primary removes the whole collection, on every node.
    r = cluster.admin.request(follower.url, "DELETE", "/admin/certificates?thumbprint=" + ta)
    expect(r, 200, "delete the primary")
    after = snapshot(cluster, lead)["certs"]
    assert not {ta, tb, tc} & set(after), "members left after deleting the primary"
    for crt, key in members:
        client = cluster.client(crt, key)
        for n in cluster.running_nodes():
            wait_until("node %d to refuse %s" % (n.id, os.path.basename(crt)),
                       lambda: client.request(n.url, "GET", "/certificates/whoami").status == 403,
                       timeout=10)
    # The reply names every thumbprint the delete removed.
    assert sorted(r.json()["Deleted"]) == sorted([ta, tb, tc]), (
        "DELETE of a collection's primary should list every member deleted: %r" % r)


def test_pem_bundle_is_a_collection_and_its_keys_are_dropped():
    x = cluster.new_cert("pem-x")
    y = cluster.new_cert("pem-y")
    bundle = read(x[0]) + read(x[1]) + read(y[0])  # a key block in the middle
    r = cluster.request_leader("PUT", "/admin/certificates",
                               upload_body("pem-team", bundle, "Operator"))
    expect(r, 201, "upload a PEM bundle")
    tx, ty = thumbprint_of(x[0]), thumbprint_of(y[0])
    assert r.json() == {"Thumbprint": tx, "SecondaryThumbprints": [ty]}, r
    listing = cluster.request_leader("GET", "/admin/certificates?secondary=true").body
    assert b"PRIVATE KEY" not in listing
    members_authenticate_as(cluster, [x, y], "pem-team", "Operator", {})
    # Nobody deletes the certificate it is connected with: not through a
    # secondary of its collection either.
    before = snapshot(cluster)
    r = cluster.client(*y).request(cluster.leader().url, "DELETE",
                                   "/admin/certificates?thumbprint=" + tx)
    expect_error(r, 403, "connected with", what="a member deletes its own collection")
    assert_unchanged(before, snapshot(cluster), "a member deleting its own collection")
    expect(cluster.request_leader("DELETE", "/admin/certificates?thumbprint=" + tx), 200)


def test_export_to_a_second_cluster_then_a_server_certificate_writes_there():
    # A exports its server certificate(s): public parts only, every node
    # gives the same file.
    cluster_ders = {der_of(os.path.join(n.data, "cluster.crt")) for n in cluster.nodes.values()}
    assert len(cluster_ders) == 1, "A's nodes serve different certificates"
    exports = []
    for n in nodes(cluster):
        r = expect(cluster.admin.request(n.url, "GET", "/admin/certificates/export"), 200,
                   "export on node %d" % n.id)
        assert r.headers.get("Content-Type") == "application/x-pkcs12", r.headers
        ders, has_key = pfx_certificates(r.body, "")
        assert set(ders) == cluster_ders and len(ders) == 1, "export holds %d certs" % len(ders)
        assert not has_key, "the export holds a private key"
        exports.append(r.body)
    # certctl saves the same certificates.
    out = os.path.join(cluster.dir, "exported.pfx")
    p = cluster.certctl("certs", "export-server", "--out", out)
    assert p.returncode == 0, p
    assert pfx_certificates(read(out), "")[0] == pfx_certificates(exports[0], "")[0]

    server_crt = os.path.join(cluster.nodes[2].data, "cluster.crt")
    server_key = os.path.join(cluster.nodes[2].data, "cluster.key")
    a_thumb = sha256_hex(cluster_ders.pop())
    as_a = other.client(server_crt, server_key)

    expect(other.request_leader("PUT", "/admin/databases", {"DatabaseName": "shared"}), 201)
    expect(other.request_leader("PUT", "/admin/databases", {"DatabaseName": "secret"}), 201)
    # Before the upload, B does not know A.
    b_lead = other.leader()
    expect_error(as_a.request(b_lead.url, "PUT", "/databases/shared/docs?id=early", {}),
                 403, a_thumb, what="A's server certificate before B trusts it")

    r = other.admin.request(other.followers()[0].url, "PUT", "/admin/certificates",
                            upload_body("cluster A", exports[1], "ValidUser",
                                        {"shared": "ReadWrite"}, password=""))
    expect(r, 201, "B uploads A's export")
    assert r.json() == {"Thumbprint": a_thumb, "SecondaryThumbprints": []}, r

    # A's server certificate writes to B through every node of B.
    for i, n in enumerate(nodes(other)):
        expect(as_a.request(n.url, "PUT", "/databases/shared/docs?id=from-a/%d" % i,
                            {"from": "cluster A", "via": n.id}), 201,
               "A writes to B via node %d" % n.id)
    docs = snapshot(other)["documents"]["shared"]
    assert docs == {"from-a/%d" % i: {"from": "cluster A", "via": n.id}
                    for i, n in enumerate(nodes(other))}, docs
    # ... and nothing beyond what B granted.
    expect_error(as_a.request(b_lead.url, "PUT", "/databases/secret/docs?id=x", {}),
                 403, "secret", what="A writes to B's secret")
    expect_error(as_a.request(b_lead.url, "GET", "/admin/certificates"), 403,
                 what="A lists B's certificates")
    # A's admin certificate means nothing to B.
    a_admin = other.client(cluster.admin_cert, cluster.admin_key)
    expect_error(a_admin.request(b_lead.url, "GET", "/databases"), 403,
                 thumbprint_of(cluster.admin_cert), what="A's admin on B")


def main():
    global cluster, other
    with Cluster(3) as a, Cluster(3) as b:
        cluster, other = a, b
        for db in ("shared", "private"):
            expect(a.request_leader("PUT", "/admin/databases", {"DatabaseName": db}), 201)
        code = run_tests([
            test_pfx_collection_every_member_has_the_primarys_rights,
            test_pem_bundle_is_a_collection_and_its_keys_are_dropped,
            test_export_to_a_second_cluster_then_a_server_certificate_writes_there,
        ], cluster)
    sys.exit(code)


if __name__ == "__main__":
    main()
