#!/usr/bin/env python3
"""Rotating the cluster certificate of a 3-node cluster without a restart.

- replace-cluster-cert with an operator's PFX (made here with openssl)
  while a client thread writes documents continuously to whichever node
  answers: no stretch of more than 3 s without a successful write; every
  acknowledged write is on every node afterwards; the replacement reaches
  phase Done on every node; every node serves the new certificate (TLS)
  and holds it in its data directory (cluster.crt/cluster.key); exactly
  one ClusterNode entry is left, the new one; the steps are audited; raft
  keeps working.
- `certctl cluster renew-cert --days N --cacert-out F --wait`: the same
  key, a new validity; the saved trust file verifies every node.
- A node that is down holds the switch back (phase stays Confirming, the
  others keep serving the old certificate) until it is back; with
  ReplaceImmediately the others switch at once, and the node that was
  down catches up when it returns.

Clients verify the nodes with a CA file: the test keeps one that trusts
every cluster certificate seen so far (the old self-signed certificate
alone does not verify a new one, renewed or not).
"""

import base64
import hashlib
import os
import ssl
import sys
import time

from certraft_cluster import Cluster, der_of_pem_file, run_tests, wait_until
from lifecycle_helpers import audit_of, documents_of, expect, read, write
from trust_helpers import (ClusterTrust, Writer, cluster_nodes_entries, der_to_pem,
                           make_cluster_pfx, pin_of, rotation_status, served_der,
                           served_thumbprint, thumbprint_of, wait_phase)

cluster = None
trusted = None  # ClusterTrust: the cluster certificates the clients trust

MAX_GAP_S = 3.0


def all_nodes():
    return [cluster.leader()] + cluster.followers()


def check_rotated(new_thumb, new_der, key_pin, nodes=None):
    """Everything that says the rotation to new_thumb is complete."""
    nodes = nodes or all_nodes()
    for n in nodes:
        assert served_thumbprint(n.url) == new_thumb, (
            "node %d serves %s, not the new certificate" % (n.id, served_thumbprint(n.url)))
        # A follower answers from its own copy, which learns of the
        # leader's last commit with the next heartbeat: await it.
        def done_here(url=n.url):
            st = rotation_status(cluster.admin, url)
            ok = st["Phase"] == "Done" and st["NewThumbprint"] == new_thumb
            return st if ok else None
        st = wait_until("node %d to report the rotation done" % n.id, done_here,
                        timeout=10)
        # (Confirmed/Switched are emptied at cleanup; the audit log keeps them.)
        assert st.get("ServedByThisNode", new_thumb) == new_thumb, (n.id, st)
        crt, key = (os.path.join(n.data, f) for f in ("cluster.crt", "cluster.key"))
        assert der_of_pem_file(crt) == new_der, "node %d's cluster.crt is not the new one" % n.id
        assert pin_of(crt) == key_pin, "node %d's cluster.crt has another key" % n.id
        pub_of_key = subprocess_pubkey(key)
        assert pub_of_key == subprocess_pubkey_of_cert(crt), (
            "node %d's cluster.key does not match cluster.crt" % n.id)
        entries = cluster_nodes_entries(cluster, n)
        assert [e["Thumbprint"] for e in entries] == [new_thumb], (
            "node %d lists ClusterNode entries %r; want only the new one" % (
                n.id, [e["Thumbprint"] for e in entries]))


def subprocess_pubkey(key_path):
    from certraft_cluster import openssl
    return openssl("pkey", "-in", key_path, "-pubout", "-outform", "DER")


def subprocess_pubkey_of_cert(crt_path):
    from certraft_cluster import openssl
    pem = openssl("x509", "-in", crt_path, "-noout", "-pubkey")
    return openssl("pkey", "-pubin", "-outform", "DER", input=pem)


def raft_works(tag):
    """A write through a follower commits and is read on every node."""
    f = cluster.followers()[0]
    expect(cluster.admin.request(f.url, "PUT", "/databases/rot/docs?id=final/" + tag,
                                 {"tag": tag}), 201, "a write after the rotation (%s)" % tag)
    for n in all_nodes():
        wait_until("final/%s on node %d" % (tag, n.id),
                   lambda: cluster.admin.request(n.url, "GET",
                                                 "/databases/rot/docs?id=final/" + tag).status
                   == 200, timeout=10)


def ops_since(index, node):
    records, _ = audit_of(cluster.admin, node.url)
    return [(a["Operation"], a["Target"], a["Status"]) for a in records if a["Index"] > index]


def last_index(node):
    return node.topology()["AppliedIndex"]


def test_replace_with_an_operator_pfx_while_writing():
    d = cluster.dir
    old_thumb = served_thumbprint(cluster.leader().url)
    pfx, new_crt, new_key = make_cluster_pfx(d, "operator-cluster-cert", password="pfx-pw")
    new_thumb = thumbprint_of(new_crt)
    trusted.add(new_crt)  # the clients are told about the new certificate first
    nodes = all_nodes()
    start_index = last_index(nodes[0])

    writer = Writer(trusted.client(cluster.admin_cert, cluster.admin_key), nodes, "rot",
                    prefix="during")
    writer.start()
    try:
        wait_until("the writer to get going", lambda: len(writer.written) >= 5, timeout=20)
        t_start = time.monotonic()
        r = cluster.admin.request(nodes[1].url, "POST",
                                  "/admin/certificates/replace-cluster-cert",
                                  {"Certificate": base64.b64encode(read(pfx)).decode(),
                                   "Password": "pfx-pw"})
        expect(r, 202, "replace-cluster-cert (via a follower)")
        assert r.json()["Thumbprint"] == new_thumb, r
        assert r.json()["Phase"] in ("Installed", "Confirming", "Switching", "Done"), r
        wait_phase(cluster.admin, nodes, "Done", timeout=60)
        t_done = time.monotonic()
        have = len(writer.written)
        wait_until("writes after the rotation", lambda: len(writer.written) >= have + 5,
                   timeout=20)
        t_end = time.monotonic()
    finally:
        writer.stop()
    gap, a, b = writer.longest_gap(t_start, t_end)
    fails = writer.failures()
    print("     rotation took %.2fs; %d writes ok, %d failed; longest gap %.2fs%s" % (
        t_done - t_start, len(writer.written), len(fails), gap,
        "; failures: %r" % [(round(f[0] - t_start, 2), f[2], f[3]) for f in fails[:5]]
        if fails else ""))
    assert gap <= MAX_GAP_S, (
        "no successful write for %.2fs (%.2f..%.2f s after the start); failures then: %r" % (
            gap, a - t_start, b - t_start,
            [(round(f[0] - t_start, 2), f[2], f[3]) for f in fails if a - 1 <= f[0] <= b][:10]))

    check_rotated(new_thumb, der_of_pem_file(new_crt), pin_of(new_crt))
    assert old_thumb != new_thumb
    # Every acknowledged write is on every node.
    for n in all_nodes():
        def has_all():
            return not (set(writer.written) - set(documents_of(cluster.admin, n.url, "rot")))
        wait_until("every acknowledged write on node %d" % n.id, has_all, timeout=15)
    # The steps, in the log: installed once, each node confirmed and
    # switched, cleaned up once.
    ops = ops_since(start_index, cluster.leader())
    names = [o[0] for o in ops if o[0].startswith("ClusterCert")]
    assert names.count("ClusterCertInstall") == 1, ops
    assert names.count("ClusterCertCleanup") == 1, ops
    assert sorted(o[1] for o in ops if o[0] == "ClusterCertConfirm") == \
        ["node 1", "node 2", "node 3"], ops
    assert sorted(o[1] for o in ops if o[0] == "ClusterCertSwitched") == \
        ["node 1", "node 2", "node 3"], ops
    assert names.index("ClusterCertInstall") < names.index("ClusterCertCleanup") and \
        names[-1] == "ClusterCertCleanup", names
    raft_works("after-replace")


def test_renew_with_certctl():
    d = cluster.dir
    lead = cluster.leader()
    before = served_der(lead.url)
    old_thumb = hashlib.sha256(before).hexdigest().upper()
    old_pin = pin_of(os.path.join(lead.data, "cluster.crt"))
    out = os.path.join(d, "trust-after-renew.pem")
    p = cluster.certctl("cluster", "renew-cert", "--days", "90", "--cacert-out", out, "--wait",
                        "--wait-timeout", "120")
    assert p.returncode == 0, p
    started = [ln for ln in p.stdout.splitlines() if ln.startswith("replacement started:")]
    assert len(started) == 1, p.stdout
    new_thumb = started[0].split("new certificate ")[1].split(",")[0]
    assert new_thumb != old_thumb, p.stdout
    assert "replacement done: every node serves %s" % new_thumb in p.stdout, p.stdout
    assert "wrote %s" % out in p.stdout and os.stat(out).st_mode & 0o777 == 0o600, p.stdout
    # The saved trust file verifies every node as it now is.
    from certraft_cluster import Client
    saved = Client(out, cluster.admin_cert, cluster.admin_key)
    for n in cluster.nodes.values():
        expect(saved.request(n.url, "GET", "/certificates/whoami"), 200,
               "node %d verified with the saved trust file" % n.id)
    trusted.add(out)
    # certctl shows the same.
    s = cluster.certctl("--output", "json", "cluster", "rotation-status")
    assert s.returncode == 0, s
    import json
    st = json.loads(s.stdout)
    assert st["Phase"] == "Done" and st["NewThumbprint"] == new_thumb, st
    new_der = served_der(lead.url)
    write(os.path.join(d, "renewed.crt"), der_to_pem(new_der))
    renewed = os.path.join(d, "renewed.crt")
    check_rotated(new_thumb, new_der, old_pin)  # same key
    # A new validity: about 90 days from now.
    from certraft_cluster import openssl
    end = openssl("x509", "-in", renewed, "-noout", "-enddate").decode().strip()
    days = (ssl.cert_time_to_seconds(end.split("=", 1)[1]) - time.time()) / 86400
    assert 88 <= days <= 92, "the renewed certificate ends %s (%.1f days)" % (end, days)
    raft_works("after-renew")


def test_a_node_that_is_down_holds_the_switch_until_asked_or_back():
    lead = cluster.leader()
    down = cluster.followers()[-1]
    up = [n for n in all_nodes() if n.id != down.id]
    old_thumb = served_thumbprint(lead.url)
    down.stop()

    # Without ReplaceImmediately: the live nodes confirm, nobody switches.
    r = expect(cluster.admin.request(lead.url, "POST", "/admin/certificates/renew-cluster-cert",
                                     {"ExpirationDays": 60}), 202, "renew while a node is down")
    new_thumb = r.json()["Thumbprint"]
    trusted.add_new(lead, new_thumb)
    st = wait_until("the live nodes to confirm",
                    lambda: (lambda s: s if set(s["Confirmed"]) >= {n.id for n in up} else None)(
                        rotation_status(cluster.admin, lead.url)), timeout=30)
    assert down.id not in st["Confirmed"] and st["Phase"] in ("Installed", "Confirming"), st
    for n in up:
        assert served_thumbprint(n.url) == old_thumb, "node %d switched early" % n.id
    down.start()
    wait_until("node %d back" % down.id, down.ready, timeout=30)
    wait_phase(cluster.admin, all_nodes(), "Done", timeout=60)
    new_der = served_der(lead.url)
    check_rotated(new_thumb, new_der, pin_of(os.path.join(lead.data, "cluster.crt")))

    # With ReplaceImmediately: the live nodes switch at once.
    down = cluster.followers()[-1]
    up = [n for n in all_nodes() if n.id != down.id]
    down.stop()
    lead = cluster.leader()
    r = expect(cluster.admin.request(lead.url, "POST", "/admin/certificates/renew-cluster-cert",
                                     {"ExpirationDays": 45, "ReplaceImmediately": True}), 202,
               "renew at once while a node is down")
    newer = r.json()["Thumbprint"]
    trusted.add_new(lead, newer)
    for n in up:
        wait_until("node %d to serve the new certificate at once" % n.id,
                   lambda: served_thumbprint(n.url) == newer, timeout=30)
    st = rotation_status(cluster.admin, lead.url)
    assert st["ReplaceImmediately"] is True and down.id not in st["Switched"], st
    down.start()
    try:
        wait_until("node %d, down during the immediate switch, to catch up and serve the "
                   "new certificate" % down.id, lambda: served_thumbprint(down.url) == newer,
                   timeout=30)
    except AssertionError as exc:
        raise AssertionError("%s: it still serves %s, the others %s; its raft log says: %s" % (
            exc, served_thumbprint(down.url)[:16], newer[:16],
            " | ".join(l for l in down.log().splitlines() if l.startswith("raft:"))[-300:]))
    wait_until("node %d back" % down.id, down.ready, timeout=30)
    wait_phase(cluster.admin, all_nodes(), "Done", timeout=60)
    check_rotated(newer, served_der(lead.url), pin_of(os.path.join(lead.data, "cluster.crt")))
    raft_works("after-down-node")


def main():
    global cluster, trusted
    with Cluster(3) as c:
        cluster = c
        trusted = ClusterTrust(c)  # the certificate `certnode init` made, for now
        expect(c.request_leader("PUT", "/admin/databases", {"DatabaseName": "rot"}), 201)
        code = run_tests([
            test_replace_with_an_operator_pfx_while_writing,
            test_renew_with_certctl,
            test_a_node_that_is_down_holds_the_switch_until_asked_or_back,
        ], c)
    sys.exit(code)


if __name__ == "__main__":
    main()
