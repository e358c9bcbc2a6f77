#!/usr/bin/env python3
"""Reproduce: a follower that rejoins after a partition lets a deleted
certificate in (local reads) until it has applied its backlog.

Found by `cluster-tests/run --workload auth --nemesis partition-ring
--nodes 5 --seed 2000` (node 5 answered whoami 200 for a certificate
deleted 5.1 s earlier, 96 ms after the partition healed). The node's
staleness guard (no contact with a majority for StaleAfterMs -> 503)
lifts as soon as the leader's first heartbeat arrives, before the entries
the node missed (the delete among them) are applied.

Steps, on 3 nodes in a network namespace: register a certificate and see
a follower accept it; cut that follower off; delete the certificate
(acknowledged) and write BACKLOG more entries; wait 6 s; heal; present
the deleted certificate to the follower as fast as possible for 3 s.
Five rounds (it is a race: the window is tens of milliseconds).
Expected: never 200. Exit 1 if it was let in.

  python3 cluster-tests/jepsen/repro_stale_rejoin.py [BACKLOG=200] [partition|restart|pause]

"restart" does the same with kill -9 of the follower instead of a
partition, and restarts it instead of healing; "pause" with SIGSTOP and
SIGCONT (a node that was stopped never saw itself go stale).
CERTRAFT_REPRO_WAIT (seconds, default 6) is how long the node stays away.
"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from certraft_cluster import wait_until  # noqa: E402
from jepsen import db, netns, workloads  # noqa: E402


def one_round(c, fw, actx, k, backlog, mode="partition"):
    crt, key = c.new_cert("victim%d" % k)
    lead = c.current_leader()
    r = workloads.call(actx, lead.url, "PUT", "/admin/certificates",
                       c.upload_body("victim%d" % k, crt, clearance="Operator"))
    assert r.status == 201, r.note()
    thumb = r.json()["Thumbprint"]
    vctx = workloads.ssl_context(c.cacert, crt, key)
    f = [n for n in c.nodes.values() if n.id != lead.id][k % 2]
    wait_until("the follower to accept the certificate", lambda: workloads.call(
        vctx, f.url, "GET", "/certificates/whoami").status == 200)
    if mode == "partition":
        fw.cut([(f.id, o) for o in c.nodes if o != f.id])
    elif mode == "pause":
        f.pause()
    else:
        f.kill()
    r = workloads.call(actx, lead.url, "DELETE", "/admin/certificates?thumbprint=" + thumb)
    assert r.status == 200, r.note()
    acked = time.monotonic()
    for i in range(backlog):
        filler, _ = c.new_cert("filler%d-%d" % (k, i))
        workloads.call(actx, lead.url, "PUT", "/admin/certificates",
                       c.upload_body("filler%d-%d" % (k, i), filler))
    while time.monotonic() < acked + float(os.environ.get("CERTRAFT_REPRO_WAIT", "6")):
        time.sleep(0.05)
    if mode == "partition":
        fw.heal()
    elif mode == "pause":
        f.resume()
    else:
        f.start()
        wait_until("the restarted node to listen", lambda: workloads.call(
            actx, f.url, "GET", "/cluster/topology").status is not None, interval=0.005)
    healed = time.monotonic()
    seen = []
    while time.monotonic() < healed + 3:
        r = workloads.call(vctx, f.url, "GET", "/certificates/whoami", timeout=3)
        seen.append((time.monotonic() - healed, r.status))
    let_in = [t for t, s in seen if s == 200]
    print("round %d, node %d after heal/restart: %d requests, %d let the deleted certificate in%s" % (
        k, f.id, len(seen), len(let_in),
        "" if not let_in else " (from %.3fs to %.3fs after the heal/restart, %.3fs after the delete "
        "was acknowledged)" % (let_in[0], let_in[-1], let_in[-1] + healed - acked)),
        flush=True)
    return bool(let_in)


def inside(backlog, rounds=5, mode="partition"):
    netns.inside_setup()
    c = db.JepsenCluster(3, netns=True)
    try:
        c.start()
        fw = netns.Firewall(c)
        actx = workloads.ssl_context(c.cacert, c.admin_cert, c.admin_key)
        bad = sum(one_round(c, fw, actx, k, backlog, mode) for k in range(rounds))
        if bad:
            print("BUG: in %d of %d rounds a rejoining node let a deleted certificate in"
                  % (bad, rounds))
            return 1
        print("ok: refused in every round (503 while stale, then 403)")
        return 0
    finally:
        c.destroy()


def main():
    backlog = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    mode = sys.argv[2] if len(sys.argv) > 2 else "partition"
    if os.environ.get("CERTRAFT_REPRO_NS"):
        return inside(backlog, mode=mode)
    ok, why = netns.can_make_namespace()
    if not ok:
        print("needs a network namespace: %s" % why)
        return 2
    ns = "certraft-repro-%d" % os.getpid()
    netns.create(ns)
    try:
        env = dict(os.environ, CERTRAFT_REPRO_NS=ns)
        return subprocess.call(netns.exec_prefix(ns) + [sys.executable, __file__, str(backlog), mode],
                               env=env)
    finally:
        for pid in netns.pids(ns):
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        netns.delete(ns)


if __name__ == "__main__":
    sys.exit(main())
