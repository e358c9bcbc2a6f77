#!/usr/bin/env python3
"""Implicit trust by public key pinning hash (RavenDB's rule).

- A renewal of a registered certificate (same key, same CA; new serial and
  validity) is accepted at once with the registered entry's rights
  (whoami: AuthenticatedBy ImplicitTrust, MatchedThumbprint), and is then
  registered through the log once, on every node, with the same Name,
  clearance and permissions, and audited (CertImplicitTrust).
- A new key is refused: 403 "unknown certificate <thumbprint>".
- The same key certified by an unrelated CA (another name, or the same
  name with another key), or self-signed, is refused with a message that
  says the key is known but the issuer differs; nothing is registered.
- At most 5 entries keep one key: each further renewal drops the entry
  that expires soonest (audited as CertImplicitTrustDrop), on every node.
- A self-signed registered certificate renewed self-signed with the same
  key is trusted the same way.

All certificates are made here with openssl: a test CA issues the leaves.
"""

import os
import sys
import threading

from certraft_cluster import Cluster, run_tests, wait_until
from lifecycle_helpers import expect, expect_error, read, upload_body
from trust_helpers import (audit_ops, entries_with, entries_with_pin, issue,
                           make_ca, new_key, pin_of, self_signed, thumbprint_of,
                           whoami)

cluster = None
CA = None  # (crt, key) of the test CA


def all_nodes():
    return [cluster.leader()] + cluster.followers()


def upload(name, crt, clearance="ValidUser", permissions=None):
    """Upload through the leader and wait until every node knows it."""
    r = cluster.request_leader("PUT", "/admin/certificates",
                               upload_body(name, read(crt), clearance, permissions))
    expect(r, 201, "upload " + name)
    registered_everywhere(r.json()["Thumbprint"])
    return r.json()["Thumbprint"]


def registered_everywhere(thumb, timeout=15):
    """Wait until every node lists exactly one entry for thumb; return
    them (node id -> entry)."""
    def check():
        seen = {}
        for n in cluster.running_nodes():
            got = entries_with(cluster, n, thumb)
            if len(got) != 1:
                return None
            seen[n.id] = got[0]
        return seen
    return wait_until("%s registered on every node" % thumb[:16], check, timeout=timeout)


def gone_everywhere(thumb, timeout=15):
    wait_until("%s gone from every node" % thumb[:16],
               lambda: all(entries_with(cluster, n, thumb) == []
                           for n in cluster.running_nodes()), timeout=timeout)


def rights(entry):
    return entry["Name"], entry["SecurityClearance"], entry["Permissions"]


def test_renewal_by_the_same_ca_is_trusted_then_registered_once():
    d = cluster.dir
    key = new_key(d, "app")
    v1 = issue(d, "app-v1", CA[0], CA[1], key, cn="app", days=30)
    t1 = upload("renewing app", v1, "ValidUser", {"shared": "ReadWrite"})
    v2 = issue(d, "app-v2", CA[0], CA[1], key, cn="app", days=90)
    t2 = thumbprint_of(v2)
    assert t1 != t2 and pin_of(v1) == pin_of(v2)
    registered_everywhere(t1)
    for n in all_nodes():
        assert entries_with(cluster, n, t2) == [], "the renewal is known before any use"

    lead, f1, f2 = all_nodes()
    client = cluster.client(v2, key)
    # The first request: accepted with the registered entry's rights, and
    # whoami says how.
    r = expect(whoami(client, f1.url), 200, "the renewal's first request (node %d)" % f1.id)
    me = r.json()
    assert me.get("AuthenticatedBy") == "ImplicitTrust", me
    assert me.get("MatchedThumbprint") == t1, me
    assert me["Thumbprint"] == t2, me
    assert rights(me) == ("renewing app", "ValidUser", {"shared": "ReadWrite"}), me

    # The same moment, on the two other nodes at once: still accepted.
    answers = {}

    def hit(node):
        answers[node.id] = whoami(cluster.client(v2, key), node.url)
    threads = [threading.Thread(target=hit, args=(n,)) for n in (lead, f2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for nid, resp in answers.items():
        expect(resp, 200, "the renewal on node %d" % nid)
        assert rights(resp.json()) == rights(me), resp

    # Its rights are the entry's: ReadWrite on shared, nothing elsewhere.
    expect(client.request(f2.url, "PUT", "/databases/shared/docs?id=renewed/1",
                          {"by": "v2"}), 201, "the renewal writes to shared")
    expect_error(client.request(lead.url, "PUT", "/databases/private/docs?id=x", {}),
                 403, "private", what="the renewal writes to private")
    expect_error(client.request(lead.url, "GET", "/admin/certificates"), 403,
                 what="the renewal lists certificates")

    # Registered in the background, on every node, as a primary entry with
    # the same Name, clearance and permissions.
    for nid, e in registered_everywhere(t2).items():
        assert rights(e) == ("renewing app", "ValidUser", {"shared": "ReadWrite"}), (nid, e)
        assert not e.get("CollectionPrimaryKey"), ("registered as a secondary", nid, e)
        assert e["PublicKeyPinningHash"] == pin_of(v2), e
    # ... after which whoami shows a normal entry everywhere.
    for n in all_nodes():
        me = expect(whoami(client, n.url), 200).json()
        assert me["Thumbprint"] == t2 and "AuthenticatedBy" not in me, (n.id, me)
        assert rights(me) == ("renewing app", "ValidUser", {"shared": "ReadWrite"}), me
    # The old certificate keeps working too.
    expect(whoami(cluster.client(v1, key), lead.url), 200, "the old certificate")

    # Registered once: one audit record, on every node's copy of the log.
    for n in all_nodes():
        recs = wait_until("the registration audited on node %d" % n.id,
                          lambda: audit_ops(cluster, n, "CertImplicitTrust", t2), timeout=10)
        assert len(recs) == 1, ("registered more than once (node %d): %r" % (n.id, recs))
        assert recs[0]["Status"] == "OK" and recs[0]["Caller"] == t2, recs
    assert len([e for n in all_nodes()[:1]
                for e in entries_with_pin(cluster, n, pin_of(v1))]) == 2


def test_a_new_key_is_refused():
    d = cluster.dir
    key = new_key(d, "nk")
    v1 = issue(d, "nk-v1", CA[0], CA[1], key, cn="nk")
    upload("new key app", v1, "ValidUser", {"shared": "ReadWrite"})
    other_key = new_key(d, "nk-other")
    imposter = issue(d, "nk-imposter", CA[0], CA[1], other_key, cn="nk")  # same CA and name
    t = thumbprint_of(imposter)
    client = cluster.client(imposter, other_key)
    for n in all_nodes():
        expect_error(whoami(client, n.url), 403, "unknown certificate " + t,
                     what="a new key from the same CA on node %d" % n.id)
        expect_error(client.request(n.url, "PUT", "/databases/shared/docs?id=x", {}), 403,
                     t, what="a new key writes on node %d" % n.id)
    for n in all_nodes():
        assert entries_with(cluster, n, t) == [], "a refused certificate was registered"
        assert audit_ops(cluster, n, "CertImplicitTrust", t) == []


def test_the_same_key_from_another_issuer_is_refused():
    d = cluster.dir
    key = new_key(d, "ui")
    v1 = issue(d, "ui-v1", CA[0], CA[1], key, cn="ui")
    t1 = upload("unrelated issuer app", v1, "ValidUser", {"shared": "ReadWrite"})
    registered_everywhere(t1)
    unrelated = make_ca(d, "unrelated-ca")
    # Same subject name as the real CA, but another key: still another CA.
    lookalike = make_ca(d, "lookalike-ca", cn=os.path.basename(CA[0])[:-4])
    cases = [
        ("an unrelated CA", issue(d, "ui-unrelated", unrelated[0], unrelated[1], key, cn="ui")),
        ("a CA with the same name", issue(d, "ui-lookalike", lookalike[0], lookalike[1], key,
                                          cn="ui")),
        ("the key holder itself (self-signed)", self_signed(d, "ui-self", key, cn="ui")),
    ]
    for what, crt in cases:
        t = thumbprint_of(crt)
        assert pin_of(crt) == pin_of(v1)
        client = cluster.client(crt, key)
        for n in all_nodes():
            body = expect_error(whoami(client, n.url), 403, t, "issuer",
                                what="the same key from %s on node %d" % (what, n.id))
            msg = body["Error"].lower()
            assert "key" in msg and ("differ" in msg or "not the same" in msg), (
                "the refusal should say the key is known but the issuer differs: %r"
                % body["Error"])
            assert t1 in body["Error"], ("the refusal should name the registered "
                                         "certificate with that key: %r" % body["Error"])
            expect_error(client.request(n.url, "PUT", "/databases/shared/docs?id=x", {}),
                         403, what="the same key from %s writes" % what)
    for what, crt in cases:
        t = thumbprint_of(crt)
        for n in all_nodes():
            assert entries_with(cluster, n, t) == [], "%s: registered anyway" % what
            assert audit_ops(cluster, n, "CertImplicitTrust", t) == [], what


def test_at_most_five_entries_per_key_the_soonest_expiring_goes():
    d = cluster.dir
    key = new_key(d, "cap")
    # NotAfter in days; renewals are not made in order of expiry, so the
    # one that goes is told apart from the one that came first.
    v1 = issue(d, "cap-v0", CA[0], CA[1], key, cn="cap", days=40)
    upload("capped app", v1, "Operator")
    pin = pin_of(v1)
    expiry = {thumbprint_of(v1): 40}
    lead = cluster.leader()
    for i, days in enumerate([90, 20, 70, 60, 80, 100], start=1):
        crt = issue(d, "cap-v%d" % i, CA[0], CA[1], key, cn="cap", days=days)
        t = thumbprint_of(crt)
        expiry[t] = days
        node = all_nodes()[i % 3]
        me = expect(whoami(cluster.client(crt, key), node.url), 200,
                    "renewal %d on node %d" % (i, node.id)).json()
        assert me.get("AuthenticatedBy") == "ImplicitTrust", me
        assert rights(me) == ("capped app", "Operator", {}), me
        registered_everywhere(t)
        want = sorted(expiry, key=lambda x: expiry[x])
        dropped = []
        while len(want) > 5:
            dropped.append(want.pop(0))
        for gone in dropped:
            del expiry[gone]
            gone_everywhere(gone)
            recs = audit_ops(cluster, lead, "CertImplicitTrustDrop", gone)
            assert len(recs) == 1, ("the drop of %s audited %d times" % (gone, len(recs)), recs)
        for n in all_nodes():
            have = sorted(e["Thumbprint"] for e in entries_with_pin(cluster, n, pin))
            assert have == sorted(expiry), (
                "after renewal %d node %d holds %d entries with the key (want the 5 that "
                "expire last: %r): %r" % (i, n.id, len(have), sorted(expiry.values()),
                                          sorted(have)))
    assert sorted(expiry.values()) == [60, 70, 80, 90, 100], expiry


def test_a_self_signed_certificate_renewed_self_signed():
    d = cluster.dir
    key = new_key(d, "selfie")
    s1 = self_signed(d, "selfie-v1", key, cn="selfie", days=30)
    t1 = upload("self-signed app", s1, "ValidUser", {"shared": "Read"})
    s2 = self_signed(d, "selfie-v2", key, cn="selfie", days=120)
    t2 = thumbprint_of(s2)
    assert t1 != t2
    follower = cluster.followers()[1]
    client = cluster.client(s2, key)
    me = expect(whoami(client, follower.url), 200, "the self-signed renewal").json()
    assert me.get("AuthenticatedBy") == "ImplicitTrust" and me.get("MatchedThumbprint") == t1, me
    assert rights(me) == ("self-signed app", "ValidUser", {"shared": "Read"}), me
    expect(client.request(follower.url, "GET", "/databases/shared/docs?id=seed/1"), 200,
           "the self-signed renewal reads shared")
    expect_error(client.request(follower.url, "PUT", "/databases/shared/docs?id=s", {}), 403,
                 what="Read only: the renewal may not write")
    for nid, e in registered_everywhere(t2).items():
        assert rights(e) == ("self-signed app", "ValidUser", {"shared": "Read"}), (nid, e)
    recs = audit_ops(cluster, cluster.leader(), "CertImplicitTrust", t2)
    assert len(recs) == 1, recs
    # A CA-issued certificate of that key is not a renewal of it.
    other_ca = make_ca(d, "selfie-ca")
    by_ca = issue(d, "selfie-by-ca", other_ca[0], other_ca[1], key, cn="selfie")
    expect_error(whoami(cluster.client(by_ca, key), follower.url), 403, "issuer",
                 what="a CA-issued certificate of a self-signed registered key")


def main():
    global cluster, CA
    with Cluster(3) as c:
        cluster = c
        CA = make_ca(c.dir, "renewal-test-ca")
        for db in ("shared", "private"):
            expect(c.request_leader("PUT", "/admin/databases", {"DatabaseName": db}), 201)
        expect(c.request_leader("PUT", "/databases/shared/docs?id=seed/1", {"seed": 1}), 201)
        code = run_tests([
            test_renewal_by_the_same_ca_is_trusted_then_registered_once,
            test_a_new_key_is_refused,
            test_the_same_key_from_another_issuer_is_refused,
            test_at_most_five_entries_per_key_the_soonest_expiring_goes,
            test_a_self_signed_certificate_renewed_self_signed,
        ], c)
    sys.exit(code)


if __name__ == "__main__":
    main()
