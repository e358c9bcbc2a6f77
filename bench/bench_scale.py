#!/usr/bin/env python3
"""Scale: 10k, 100k and 1M registered certificates.

1. The replicated state (bench/scale, linking certraft_core): every
   certificate goes in as a CERT_PUT through cr_state_apply(), exactly as a
   node applies its log. At each size: apply cost per upload (= the replay
   rate of a node catching up from the log), authentication lookup time
   (cr_auth_authenticate on random registered certificates: SHA-256 of the
   DER + one hash probe; the bare probe alone too), resident memory per
   certificate beyond its DER (and malloc's own count), snapshot size,
   time to take it (cr_state_snapshot) and to restore it
   (cr_state_restore).

2. Real processes (--cluster-certs, default 100k; 1M loads in ~2.5
   minutes on two cores): a 3-node cluster is loaded through `PUT /admin/certificates`
   by bench/loadgen (64 connections), then: the snapshot files on disk,
   the longest a node's loop was held by a snapshot (the fork of the
   child that encodes it: the write stall; topology's SnapshotMaxMs), the time a follower takes to restart
   (SIGTERM, `certnode run`, until it answers and has applied everything
   the leader had committed), the time a new 4th node takes to catch up
   (`certnode join` + add-node until it has applied the leader's commit
   index), and every node's RSS at the end.

  python3 bench/bench_scale.py [--sizes 10000,100000,1000000]
                               [--cluster-certs 100000] [--der-size 700]
"""

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import Cluster, free_ports, loadgen, wait_until  # noqa: E402
from certraft_cluster import Node  # noqa: E402


def metric(node, client, name):
    r = client.request(node.url, "GET", "/metrics")
    for line in r.body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def snapshot_files(node):
    d = os.path.join(node.data, "raft")
    out = []
    for f in os.listdir(d):
        if f.startswith("snapshot-") and not f.endswith(".meta"):
            out.append(os.path.getsize(os.path.join(d, f)))
    return out


def core_part(args, template):
    r = subprocess.run([benchlib.bench_binary("scale"), "--template", template,
                        "--sizes", args.sizes, "--lookups", str(args.lookups),
                        "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("scale failed: %s" % r.stderr)
    res = json.loads(r.stdout)
    rows = [[x["certs"], x["apply_us"], x["auth_ns"], x["probe_ns"],
             x["rss_mib"], x["rss_per_cert_beyond_der"],
             x["heap_per_cert_beyond_der"], x["snapshot_mib"],
             x["snapshot_s"], x["restore_s"], x["expiry_us"],
             x["expiry_visit_us"]] for x in res]
    return res, rows


def cluster_part(args, template, tmp):
    out = {}
    with Cluster(3) as cluster:
        client = cluster.admin
        leader = cluster.leader()
        port = leader.api_address.split(":")[1]
        base_rss = max(benchlib.proc_rss_kib(n.proc.pid)
                       for n in cluster.running_nodes()) / 1024.0
        out["base_rss_mib"] = base_rss
        t0 = time.monotonic()
        chunks, loaded = 10, 0
        rates = []
        for i in range(chunks):
            n = args.cluster_certs // chunks + (1 if i < args.cluster_certs % chunks else 0)
            if n == 0:
                continue
            c0 = time.monotonic()
            r = loadgen(port, cacert=cluster.cacert, cert=cluster.admin_cert,
                        key=cluster.admin_key, conns=64, requests=n,
                        gen="upload", template=template, expect=201,
                        seq_start=loaded + 1)
            loaded += r["total_ok"]
            rates.append(r["total_ok"] / (time.monotonic() - c0))
        out["load_s"] = time.monotonic() - t0
        out["load_rate_first"] = rates[0]
        out["load_rate_last"] = rates[-1]
        # leadership may have moved during the load
        leader = cluster.leader()
        topo = leader.topology()
        out["snapshots_taken"] = topo["SnapshotsTaken"]
        out["commit"] = topo["CommitIndex"]
        # let every node finish applying
        wait_until("followers to apply", lambda: all(
            n.topology()["AppliedIndex"] >= topo["CommitIndex"]
            for n in cluster.running_nodes()), timeout=300)
        total = metric(leader, client, "certraft_certificates")
        out["certs"] = total
        # the longest any node's loop was held by taking a snapshot
        out["snapshot_max_ms"] = max(n.topology().get("SnapshotMaxMs", 0)
                                     for n in cluster.running_nodes())
        sizes = snapshot_files(leader)
        out["snapshot_mib"] = max(sizes) / 1048576.0 if sizes else 0.0
        out["snapshot_files"] = len(sizes)

        # restart a follower from its snapshot (+ the log after it)
        f = cluster.followers()[0]
        f.stop()
        commit = leader.topology()["CommitIndex"]
        t0 = time.monotonic()
        f.start()
        wait_until("restarted node to answer", f.ready, timeout=600, interval=0.02)
        out["restart_answer_s"] = time.monotonic() - t0
        wait_until("restarted node to catch up",
                   lambda: f.topology()["AppliedIndex"] >= commit,
                   timeout=600, interval=0.02)
        out["restart_s"] = time.monotonic() - t0
        out["restart_restored"] = f.topology()["SnapshotsRestored"]
        out["restart_rss_mib"] = benchlib.proc_rss_kib(f.proc.pid) / 1024.0

        # a new node catches up
        ports = free_ports(2)
        n4 = Node(cluster, 4, ports[0], ports[1])
        cluster.nodes[4] = n4
        commit = leader.topology()["CommitIndex"]
        t0 = time.monotonic()
        cluster.join(n4)
        wait_until("node 4 to catch up",
                   lambda: n4.topology()["AppliedIndex"] >= commit,
                   timeout=900, interval=0.05)
        out["join_s"] = time.monotonic() - t0
        out["join_installed"] = n4.topology()["SnapshotsInstalled"]
        out["rss_mib"] = [benchlib.proc_rss_kib(n.proc.pid) / 1024.0
                          for n in cluster.running_nodes()]
        out["roles"] = ["leader" if n is leader else "restarted" if n is f
                        else "new" if n is n4 else "follower"
                        for n in cluster.running_nodes()]
        got = metric(n4, client, "certraft_certificates")
        if got != total:
            raise AssertionError("node 4 has %s certificates, leader %s" % (got, total))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--lookups", type=int, default=200000)
    ap.add_argument("--der-size", type=int, default=700)
    ap.add_argument("--cluster-certs", type=int, default=100000,
                    help="certificates for the real-process part (0: skip)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-scale-")
    atexit.register(shutil.rmtree, tmp, True)
    template = benchlib.write_template(tmp, args.der_size)
    der = os.path.getsize(template)

    print("Scale: %d-byte certificates" % der)
    print(benchlib.machine_note())
    res, rows = core_part(args, template)
    print()
    print("1. Replicated state through apply() (bench/scale, one process):")
    benchlib.print_table(["certs", "apply us/upload", "auth lookup ns",
                          "probe ns", "RSS MiB", "RSS/cert beyond DER B",
                          "heap/cert beyond DER B", "snapshot MiB",
                          "snapshot s", "restore s", "expiry count us",
                          "expiry by visit us"], rows)
    first, last = res[0], res[-1]
    growth = last["auth_ns"] / first["auth_ns"]
    print("lookup at %d vs %d: %.2fx (target <= 1.2x) -> %s" % (
        last["certs"], first["certs"], growth,
        "met" if growth <= 1.2 else "MISSED"))
    print("RSS per certificate beyond its DER at %d: %.0f B (target <= 3072) "
          "-> %s" % (last["certs"], last["rss_per_cert_beyond_der"],
                     "met" if last["rss_per_cert_beyond_der"] <= 3072 else
                     "MISSED"))
    print("restore of the %d-certificate snapshot: %.2fs (in-process; the "
          "restart target is < 10 s)" % (last["certs"], last["restore_s"]))

    if args.cluster_certs > 0:
        c = cluster_part(args, template, tmp)
        print()
        print("2. Real 3-node cluster with %d certificates (loaded over HTTPS "
              "in %.0fs: %.0f/s for the first tenth, %.0f/s for the last; "
              "%d snapshots taken by the leader):" % (
                  c["certs"], c["load_s"], c["load_rate_first"],
                  c["load_rate_last"], c["snapshots_taken"]))
        benchlib.print_table(
            ["certs", "snapshot on disk MiB", "longest snapshot stall ms",
             "restart: answers s", "restart: caught up s",
             "new node caught up s", "RSS per node MiB"],
            [[int(c["certs"]), c["snapshot_mib"], c["snapshot_max_ms"],
              c["restart_answer_s"], c["restart_s"], c["join_s"],
              "/".join("%.0f" % x for x in c["rss_mib"])]])
        print("(RSS in node order: %s; the stall is the longest time a "
              "node's loop spent starting a snapshot (the fork), during which it "
              "applies and answers nothing)" % "/".join(c["roles"]))
        der = os.path.getsize(template)
        per = [(m - c["base_rss_mib"]) * 1048576.0 / c["certs"] - der
               for m in c["rss_mib"]]
        print("RSS per certificate beyond its DER on the live nodes: %s B "
              "(nodes that took snapshots all along vs ones restored from "
              "one; target <= 3072) -> %s" % (
                  "/".join("%.0f" % x for x in per),
                  "met" if max(per) <= 3072 else "MISSED"))
        print("restart from snapshot at %d certificates: %.2fs (target < 10 s)"
              " -> %s; the restarted node restored %d snapshot(s), the new "
              "node installed %d" % (
                  c["certs"], c["restart_s"],
                  "met" if c["restart_s"] < 10 else "MISSED",
                  c["restart_restored"], c["join_installed"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
