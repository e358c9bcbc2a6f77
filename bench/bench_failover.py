#!/usr/bin/env python3
"""Failover: time from kill -9 of the leader until writes succeed again.

A 3-node certraft cluster with its default timing (election timeout
1000 ms, which raft randomizes to 1000-2000 ms per term; heartbeat
100 ms; pre-vote on). Each trial kills the leader with SIGKILL, then
keeps sending a certificate upload (`PUT /admin/certificates`, a new
certificate each time, a fresh connection to one of the two survivors in
turn: any node forwards writes to the leader it knows) until one is
acknowledged (201). The time from the kill to that acknowledgement is the
trial's failover time; the time until a survivor reports a new leader is
shown too. The killed node is then restarted and the cluster waits until
it has caught up before the next trial.

  python3 bench/bench_failover.py [--trials 20]
"""

import argparse
import atexit
import base64
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import Cluster, wait_until  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="give up on a trial after this many seconds")
    ap.add_argument("--election-timeout", type=int, default=0,
                    help="run the nodes with this election timeout (ms) "
                         "instead of their default")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-failover-")
    atexit.register(shutil.rmtree, tmp, True)
    template = benchlib.make_template(tmp, 700)
    seq = [0]

    def upload(client, node):
        seq[0] += 1
        body = {"Name": "failover",
                "Certificate": base64.b64encode(
                    benchlib.stamp(template, seq[0])).decode(),
                "SecurityClearance": "ValidUser"}
        try:
            return client.request(node.url, "PUT", "/admin/certificates",
                                  body).status
        except Exception:  # refused, reset, timeout: the node is not ready
            return None

    print("Failover: kill -9 of the leader of a 3-node cluster until a write "
          "is acknowledged; %d trials; election timeout %s" % (
              args.trials, "%d ms" % args.election_timeout
              if args.election_timeout else "default (1000 ms)"))
    print(benchlib.machine_note())
    rows = []
    tuning = (["--election-timeout", str(args.election_timeout)]
              if args.election_timeout else [])
    with Cluster(3, tuning=tuning) as cluster:
        client = cluster.client(cluster.admin_cert, cluster.admin_key)
        client.timeout = 2.0
        for trial in range(1, args.trials + 1):
            leader = cluster.leader()
            survivors = [n for n in cluster.running_nodes() if n.id != leader.id]
            assert upload(client, leader) == 201  # the cluster is healthy
            t0 = time.monotonic()
            leader.kill()
            elected = None
            attempts = 0
            while True:
                now = time.monotonic()
                if now - t0 > args.timeout:
                    raise AssertionError("trial %d: no write succeeded within "
                                         "%gs" % (trial, args.timeout))
                node = survivors[attempts % len(survivors)]
                attempts += 1
                if elected is None:
                    try:
                        topo = node.topology(client)
                        if topo["Leader"] not in (None, leader.id):
                            elected = time.monotonic() - t0
                    except Exception:
                        pass
                if upload(client, node) == 201:
                    t1 = time.monotonic() - t0
                    break
                time.sleep(0.01)
            rows.append([trial, leader.id, elected if elected else t1, t1,
                         attempts])
            print("  trial %d: %.3fs" % (trial, t1), file=sys.stderr, flush=True)
            leader.start()
            new = cluster.leader()

            def caught_up():
                lead = new.topology()
                mine = leader.topology()
                return mine["AppliedIndex"] >= lead["CommitIndex"] - 1
            wait_until("node %d to catch up" % leader.id, caught_up, timeout=60)
    times = [r[3] for r in rows]
    elect = [r[2] for r in rows]
    print()
    benchlib.print_table(["trial", "killed", "new leader seen s",
                          "write acknowledged s", "attempts"], rows)
    print()
    print("failover (kill -9 -> first acknowledged write): median %.3fs, "
          "p90 %.3fs, max %.3fs, min %.3fs over %d trials; new leader seen: "
          "median %.3fs" % (statistics.median(times),
                            sorted(times)[int(0.9 * (len(times) - 1))],
                            max(times), min(times), len(times),
                            statistics.median(elect)))
    med = statistics.median(times)
    print("target failover median < 1.5 s: %.3fs -> %s"
          % (med, "met" if med < 1.5 else "MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
