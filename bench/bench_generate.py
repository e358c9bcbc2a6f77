#!/usr/bin/env python3
"""Generation: certificates generated and committed per second.

A 3-node certraft cluster; bench/loadgen sends `POST /admin/certificates`
(P-256, no password: key generation, signing by the cluster certificate,
PEM + PFX + zip on the node's thread pool, then the public certificate
goes through the raft log) with N requests in flight, to the leader. Each
201 is a certificate that is generated *and* committed.

The yardstick, measured in the same run by bench/cryptorate on one core:
P-256 key generation plus issuing (signing) a client certificate with a
P-256 CA key, with plain OpenSSL calls. cryptorate also times certraft's
own generation steps (cr_generate_key, _cert, _pem, _pfx: what the node
runs on its thread pool, minus the zip), so the cost of each is visible.

  python3 bench/bench_generate.py [--clients 1,4,16] [--seconds 5]
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import Cluster, CpuMeter, loadgen  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    args = ap.parse_args()
    levels = [int(x) for x in args.clients.split(",")]

    print("Generation: POST /admin/certificates (P-256) on a 3-node cluster, "
          "%gs per level" % args.seconds)
    print(benchlib.machine_note())
    cr = json.loads(subprocess.run(
        [benchlib.bench_binary("cryptorate"), "--seconds",
         str(max(1.0, args.seconds / 2))], capture_output=True, text=True,
        check=True).stdout)
    base = cr["keygen_sign_per_s"]
    rows = []
    with Cluster(3) as cluster:
        for i, n in enumerate(levels):
            leader = cluster.leader()
            port = leader.api_address.split(":")[1]
            pids = [x.proc.pid for x in cluster.running_nodes()]
            with CpuMeter([leader.proc.pid]) as lm, CpuMeter(pids) as am:
                r = loadgen(port, cacert=cluster.cacert, cert=cluster.admin_cert,
                            key=cluster.admin_key, conns=n,
                            seconds=args.seconds, warmup=args.warmup,
                            gen="generate", expect=201, name="gen%d" % i)
            ok = r["total_ok"] or 1
            rows.append([n, r["ops_per_s"], r["p50_ms"], r["p99_ms"],
                         lm.cpu / ok * 1e6, am.cpu / ok * 1e6,
                         r["ops_per_s"] / base, r["errors"]])
            print("  N=%d: %.0f certs/s" % (n, r["ops_per_s"]), file=sys.stderr,
                  flush=True)
        count = len(cluster.thumbprints_on(cluster.leader()))
    print()
    benchlib.print_table(["clients", "certs/s", "p50 ms", "p99 ms",
                          "leader CPU us/cert", "cluster CPU us/cert",
                          "vs OpenSSL 1 core", "errors"], rows)
    print()
    print("OpenSSL on one core (bench/cryptorate): P-256 keygen %.0f us + "
          "issue/sign %.0f us = %.0f certificates/s" % (
              cr["keygen_us"], cr["sign_us"], base))
    print("certraft's steps per generation (cryptorate, one core): key %.0f us, "
          "certificate %.0f us, PEM (cert+key) %.0f us, PKCS#12 %.0f us = %.0f us "
          "(%.0f/s, %.2fx OpenSSL's keygen+sign); with a password PEM %.0f us, "
          "PKCS#12 %.0f us; + zip, raft commit, HTTPS"
          % (cr["cr_keygen_us"], cr["cr_issue_us"], cr["cr_pem_us"],
             cr["cr_pfx_us"], cr["cr_generate_us"], cr["cr_generate_per_s"],
             cr["cr_generate_per_s"] / base, cr["cr_pem_password_us"],
             cr["cr_pfx_password_us"]))
    print("registry now holds %d certificates" % count)
    best = max(r[6] for r in rows)
    print("target generation >= 0.7x single-core OpenSSL keygen+sign: best "
          "%.2fx -> %s" % (best, "met" if best >= 0.7 else "MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
