#!/usr/bin/env python3
"""Replicated writes: certraft vs etcd, side by side in one run.

Starts a 3-node certraft cluster and a 3-member etcd cluster (Debian's
etcd-server, client and peer TLS with client-certificate auth, its default
fsync of every WAL write) on loopback, then, for each concurrency N, drives
each system's leader with bench/loadgen: N keep-alive HTTPS connections,
one request in flight each, for a fixed time. The same ~2 KB certificate
(DER) is the payload of both: certraft gets `PUT /admin/certificates`
(the DER base64 in JSON), etcd gets `POST /v3/kv/put` of the same bytes
under a distinct key. Levels alternate between the two systems so that
background load hits both alike.

Prints, per N and system: ops/s, p50/p99/p999 latency, and CPU time per
write (leader, and all three nodes together, from /proc; certraft's
snapshot encoders, forked children, included), how busy the whole
machine was (/proc/stat: kernel threads and interrupts included), how
many snapshots certraft's nodes took meanwhile (each encodes the whole
registry, so a level that has them pays for them), then the ratios. Each level starts once the machine is quiet.

  python3 bench/bench_writes.py [--clients 1,16,64,256] [--seconds 10]
                                [--size 2048] [--no-etcd]
"""

import argparse
import atexit
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import (Cluster, CpuMeter, EtcdCluster, MachineMeter,  # noqa: E402
                      loadgen)


def certraft_level(cluster, template, n, seconds, warmup, seq):
    benchlib.wait_quiet()
    leader = cluster.leader()
    port = leader.api_address.split(":")[1]
    nodes = cluster.running_nodes()
    pids = [x.proc.pid for x in nodes]
    snaps0 = sum(x.topology()["SnapshotsTaken"] for x in nodes)
    with CpuMeter([leader.proc.pid]) as lm, CpuMeter(pids) as am, \
            MachineMeter() as mm:
        r = loadgen(port, cacert=cluster.cacert, cert=cluster.admin_cert,
                    key=cluster.admin_key, conns=n, seconds=seconds,
                    warmup=warmup, gen="upload", template=template,
                    expect=201, seq_start=seq)
    r["machine_busy"] = mm.busy
    r["snapshots"] = sum(x.topology()["SnapshotsTaken"] for x in nodes) - snaps0
    return r, lm.cpu, am.cpu


def loop_stalls(cluster):
    """Per node: the longest event-loop iteration (ms) and how many took
    100 ms or more, from /metrics (since the node started)."""
    out = []
    for x in cluster.running_nodes():
        r = cluster.admin.request(x.url, "GET", "/metrics")
        m = {}
        for line in r.body.decode().splitlines():
            if line.startswith("certraft_loop_"):
                k, v = line.split()
                m[k] = float(v)
        out.append("node %d: %.0f ms, %d" % (
            x.id, 1000 * m.get("certraft_loop_busy_max_seconds", 0),
            m.get("certraft_loop_slow_iterations_total", 0)))
    return out


def etcd_level(etcd, template, n, seconds, warmup, seq):
    benchlib.wait_quiet()
    lead = etcd.leader_index() - 1
    port = etcd.client_ports[lead]
    with CpuMeter([etcd.procs[lead].pid]) as lm, CpuMeter(etcd.pids()) as am, \
            MachineMeter() as mm:
        r = loadgen(port, cacert=etcd.cacert, cert=etcd.client_cert,
                    key=etcd.client_key, conns=n, seconds=seconds,
                    warmup=warmup, gen="etcd-put", template=template,
                    expect=200, seq_start=seq)
    r["machine_busy"] = mm.busy
    return r, lm.cpu, am.cpu


def per_op_us(cpu, r):
    """CPU is measured over the whole loadgen run: divide by every success
    (warm-up and stragglers included)."""
    return cpu / r["total_ok"] * 1e6 if r["total_ok"] else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,16,64,256")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=2048,
                    help="certificate (value) size in bytes")
    ap.add_argument("--no-etcd", action="store_true",
                    help="certraft only (etcd not installed)")
    ap.add_argument("--tuning", default="",
                    help="extra certnode options for experiments, e.g. "
                         "'--snapshot-threshold 100000'")
    args = ap.parse_args()
    levels = [int(x) for x in args.clients.split(",")]
    tmp = tempfile.mkdtemp(prefix="bench-writes-")
    atexit.register(shutil.rmtree, tmp, True)
    template = benchlib.write_template(tmp, args.size)
    size = os.path.getsize(template)

    print("Replicated writes, 3 nodes each on loopback, fsync on; %d-byte "
          "certificate per write; %gs per level after %gs warm-up"
          % (size, args.seconds, args.warmup))
    print(benchlib.machine_note())
    rows, ratios = [], []
    etcd = None
    if args.tuning:
        print("certnode tuning: %s" % args.tuning)
    with Cluster(3, tuning=args.tuning.split()) as cluster:
        try:
            if not args.no_etcd:
                etcd = EtcdCluster().start()
            for i, n in enumerate(levels):
                seq = (i + 1) << 40
                c, c_lcpu, c_acpu = certraft_level(cluster, template, n,
                                                   args.seconds, args.warmup, seq)
                rows.append(["certraft", n, c["ops_per_s"], c["p50_ms"],
                             c["p99_ms"], c["p999_ms"], per_op_us(c_lcpu, c),
                             per_op_us(c_acpu, c), 100 * c["machine_busy"],
                             c["snapshots"], c["errors"]])
                print("  certraft N=%d: %.0f ops/s" % (n, c["ops_per_s"]),
                      file=sys.stderr, flush=True)
                if etcd is not None:
                    e, e_lcpu, e_acpu = etcd_level(etcd, template, n,
                                                   args.seconds, args.warmup, seq)
                    rows.append(["etcd", n, e["ops_per_s"], e["p50_ms"],
                                 e["p99_ms"], e["p999_ms"],
                                 per_op_us(e_lcpu, e), per_op_us(e_acpu, e),
                                 100 * e["machine_busy"], "-", e["errors"]])
                    print("  etcd     N=%d: %.0f ops/s" % (n, e["ops_per_s"]),
                          file=sys.stderr, flush=True)
                    ratios.append([n, c["ops_per_s"] / max(e["ops_per_s"], 1e-9),
                                   c["p50_ms"] / max(e["p50_ms"], 1e-9),
                                   c["p99_ms"] / max(e["p99_ms"], 1e-9),
                                   per_op_us(c_acpu, c) / per_op_us(e_acpu, e)])
            stalls = loop_stalls(cluster)
        finally:
            if etcd is not None:
                etcd.stop()
    print()
    benchlib.print_table(["system", "clients", "ops/s", "p50 ms", "p99 ms",
                          "p999 ms", "leader CPU us/op", "cluster CPU us/op",
                          "machine busy %", "snapshots", "errors"], rows)
    print("certraft's longest event-loop iteration, and iterations of 100 ms "
          "or more, over the run: " + "; ".join(stalls))
    if ratios:
        print()
        print("certraft / etcd:")
        benchlib.print_table(["clients", "ops/s ratio", "p50 ratio",
                              "p99 ratio", "CPU/op ratio"], ratios)
        by_n = {r[0]: r for r in ratios}
        if 64 in by_n:
            print("target writes >= 2x etcd ops/s at 64 clients: %.2fx -> %s"
                  % (by_n[64][1], "met" if by_n[64][1] >= 2 else "MISSED"))
        if 1 in by_n:
            print("target p99 <= etcd's at 1 client: %.2fx -> %s"
                  % (by_n[1][3], "met" if by_n[1][3] <= 1 else "MISSED"))
    errors = sum(r[-1] for r in rows)
    return 1 if errors and all(r[2] == 0 for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
