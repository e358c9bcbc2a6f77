#!/usr/bin/env python3
"""A node cut off from its majority stops honouring a deleted certificate.

The cluster runs with `--stale-after 2000`. One node (a follower, then the
leader) is cut off from the two others, which keep working; a certificate
is deleted through the majority. The isolated node must, within the bound
+ 1 s of the deletion, refuse that certificate: 403, or 503 for every
request with a message saying it lost contact (GET /cluster/topology
still answers). Once the partition heals it serves again, and the
certificate stays refused (403, deleted) everywhere.

The test runs inside its own network namespace (it re-executes itself
under `ip netns exec`), where nodes listen on 127.0.0.<id> and run as
their own uids, so nftables rules on the node's uid cut raft traffic and
forwarding between nodes without touching anything outside the test
(cluster-tests/jepsen/netns.py). Without root or ip/nft it says why and
skips.
"""

import os
import sys
import time

from certraft_cluster import run_tests, wait_until
from lifecycle_helpers import expect, expect_error, read, upload_body
from trust_helpers import Sampler, can_use_netns, entries_with, netns_reexec, whoami

STALE_MS = 2000
BOUND_S = STALE_MS / 1000.0 + 1.0

cluster = None
firewall = None


def all_nodes():
    return [cluster.leader()] + cluster.followers()


def register(name):
    crt, key = cluster.new_cert(name)
    r = cluster.request_leader("PUT", "/admin/certificates",
                               upload_body(name, read(crt), "ValidUser", {}))
    expect(r, 201, "upload " + name)
    thumb = r.json()["Thumbprint"]
    client = cluster.client(crt, key, timeout=3.0)
    for n in cluster.running_nodes():
        wait_until("%s accepted by node %d" % (name, n.id),
                   lambda: whoami(client, n.url).status == 200, timeout=15)
    return thumb, client


def outcome(client, node):
    """(status, Error text) of whoami, or ("error", text) when the node
    does not answer."""
    try:
        r = whoami(client, node.url)
    except Exception as exc:  # recorded: a node that does not answer
        return ("error", repr(exc))
    try:
        msg = r.json().get("Error", "") if r.status != 200 else ""
    except ValueError:
        msg = r.body[:200].decode(errors="replace")
    return (r.status, msg)


def is_stale_refusal(o):
    return o[0] == 503 and "contact" in o[1].lower()


def refused(o, thumb):
    """403 for the deleted certificate, or 503 saying contact was lost."""
    return (o[0] == 403 and thumb in o[1]) or is_stale_refusal(o)


def delete_through_majority(majority, thumb):
    """DELETE via the majority's nodes until one acknowledges it (a new
    leader may still be being elected). Returns the time of the ack."""
    def attempt():
        for n in majority:
            try:
                r = cluster.admin.request(n.url, "DELETE",
                                          "/admin/certificates?thumbprint=" + thumb)
            except Exception:  # a node still sorting itself out: the next one
                continue
            if r.status == 200:
                return time.monotonic()
            if r.status == 404:  # an earlier attempt did commit
                return time.monotonic()
        return None
    return wait_until("the majority to delete %s" % thumb[:16], attempt, timeout=30,
                      interval=0.1)


def isolate_and_delete(isolated, name):
    thumb, victim = register(name)
    majority = [n for n in cluster.running_nodes() if n.id != isolated.id]
    admin = cluster.client(cluster.admin_cert, cluster.admin_key, timeout=3.0)
    sampler = Sampler(lambda: (outcome(victim, isolated), outcome(admin, isolated)),
                      interval=0.05)
    firewall.cut([(isolated.id, m.id) for m in majority])
    t_cut = time.monotonic()
    sampler.start()
    try:
        t_del = delete_through_majority(majority, thumb)
        # The majority works and no longer knows the certificate.
        for m in majority:
            wait_until("node %d (majority) to refuse the deleted certificate" % m.id,
                       lambda: outcome(victim, m)[0] == 403, timeout=10)
        deadline = t_del + BOUND_S
        # Wait past the bound (by sampling, not sleeping) with a margin.
        wait_until("samples past the bound", lambda: sampler.samples and
                   sampler.samples[-1][0] > deadline + 1.0, timeout=BOUND_S + 10)
        topo = expect(admin.request(isolated.url, "GET", "/cluster/topology"), 200,
                      "GET /cluster/topology on the isolated node").json()
    finally:
        samples = sampler.stop()
    # From the bound on, every sample of the isolated node refuses.
    late = [(t, v) for t, (v, a) in samples if t >= deadline]
    assert late, "no samples after the bound"
    accepted = [(round(t - t_del, 2), v) for t, v in late if not refused(v, thumb)]
    assert not accepted, (
        "node %d, cut off %.2fs before the delete, still did not refuse the deleted "
        "certificate %.1fs after it (bound: stale-after %d ms + 1 s): %r" % (
            isolated.id, t_del - t_cut, BOUND_S, STALE_MS, accepted[:5]))
    first_refusal = next((t for t, (v, a) in samples
                          if t >= t_cut and refused(v, thumb) and
                          all(refused(v2, thumb) for t2, (v2, a2) in samples if t2 >= t)),
                         None)
    stale = [a for t, (v, a) in samples if t >= deadline]
    # A stale node refuses everything, the admin too, with the message.
    if any(is_stale_refusal(v) for t, v in late):
        assert all(is_stale_refusal(a) for a in stale), (
            "a node that refuses as stale should refuse every request: %r" % stale[:3])
    print("     node %d: cut at 0.00s, delete acked at %.2fs, refused from %.2fs on "
          "(%s)" % (isolated.id, t_del - t_cut, first_refusal - t_cut,
                    "503 stale" if is_stale_refusal(late[0][1]) else "403"))
    assert topo["NodeId"] == isolated.id, topo
    return thumb, victim, admin


def heal_and_check(isolated, thumb, victim, admin):
    """Heal, and watch the isolated node from that moment: it may refuse
    (503) while it catches up, but must never accept the deleted
    certificate again; it serves again (the admin: 200) and the deleted
    certificate gets 403."""
    seen = []

    def caught_up():
        v, a = outcome(victim, isolated), outcome(admin, isolated)
        seen.append((time.monotonic(), v, a))
        return a[0] == 200 and v[0] == 403
    firewall.heal()
    t_heal = time.monotonic()
    wait_until("node %d to serve again after healing" % isolated.id, caught_up, timeout=30,
               interval=0.02)
    accepted = [(round(t - t_heal, 3), v) for t, v, a in seen if v[0] == 200]
    assert not accepted, (
        "after healing, node %d accepted the certificate deleted while it was cut off "
        "(it served before catching up with the log): %r" % (isolated.id, accepted[:3]))
    expect_error(whoami(victim, isolated.url), 403, thumb,
                 what="the deleted certificate on the healed node")
    for n in cluster.running_nodes():
        assert entries_with(cluster, n, thumb) == [], (
            "node %d still lists the deleted certificate" % n.id)
        assert outcome(victim, n)[0] == 403, n.id
    # Raft works across all three again.
    expect(cluster.admin.request(isolated.url, "PUT", "/admin/databases",
                                 {"DatabaseName": "after-%d-%d" % (isolated.id,
                                                                   int(time.time()))}),
           201, "a write through the healed node")


def test_an_isolated_follower_refuses_a_certificate_deleted_by_the_majority():
    isolated = cluster.followers()[0]
    try:
        got = isolate_and_delete(isolated, "victim-f")
    finally:
        firewall.heal()
    heal_and_check(isolated, *got)


def test_an_isolated_leader_refuses_a_certificate_deleted_by_the_majority():
    isolated = cluster.leader()
    try:
        got = isolate_and_delete(isolated, "victim-l")
    finally:
        firewall.heal()
    heal_and_check(isolated, *got)


def main():
    ok, why = can_use_netns()
    if not ok:
        print("skipped: %s (the partition needs a network namespace)" % why)
        print("0 passed, 0 failed")
        sys.exit(0)
    code = netns_reexec(os.path.abspath(__file__), sys.argv[1:])
    if code is not None:
        sys.exit(code)
    # Inside the namespace.
    global cluster, firewall
    from jepsen.db import JepsenCluster
    from jepsen.netns import Firewall
    with JepsenCluster(3, netns=True, tuning=["--stale-after", str(STALE_MS)]) as c:
        cluster = c
        firewall = Firewall(c)
        if not firewall.available:
            print("skipped: nft is missing")
            sys.exit(0)
        code = run_tests([
            test_an_isolated_follower_refuses_a_certificate_deleted_by_the_majority,
            test_an_isolated_leader_refuses_a_certificate_deleted_by_the_majority,
        ], c)
        firewall.heal()
    sys.exit(code)


if __name__ == "__main__":
    main()
