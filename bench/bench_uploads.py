#!/usr/bin/env python3
"""Replicated upload throughput and latency of a 3-node certraft cluster.

Starts a real 3-node cluster on loopback (raft's default fsync on every
append), then for each concurrency N drives N clients, each on its own
keep-alive HTTPS connection to the leader, uploading distinct certificates
for a fixed time. Prints commits/s and p50/p99/p999 latency per N.

  python3 bench/bench_uploads.py [--clients 1,16,64] [--seconds 10]
"""

import argparse
import base64
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "cluster-tests"))

from certraft_cluster import Cluster  # noqa: E402


def make_cert_pool(n, directory):
    """n distinct certificates (DER, base64). One real certificate is made
    with the openssl CLI; the others differ from it only in their serial
    number bytes. Their signatures no longer verify, which does not matter
    here: registration is by thumbprint (RavenDB's model), and the server
    parses and hashes each one exactly as it would a real one."""
    key = os.path.join(directory, "pool.key")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey",
                    "-noout", "-out", key], check=True, capture_output=True)
    marker = bytes(range(0x11, 0x11 + 16))
    template = subprocess.run(
        ["openssl", "req", "-x509", "-key", key, "-days", "30", "-subj",
         "/CN=bench", "-set_serial", "0x" + marker.hex(), "-outform", "DER"],
        check=True, capture_output=True).stdout
    at = template.index(marker)
    pool = []
    for i in range(n):
        serial = (0x11 << 120 | i).to_bytes(16, "big")
        der = template[:at] + serial + template[at + 16:]
        pool.append(base64.b64encode(der).decode())
    return pool


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, int(round(p / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[k]


def run_level(cluster, certs, clients, seconds):
    leader = cluster.leader()
    host, port = leader.api_address.split(":")
    ctx = ssl.create_default_context(cafile=cluster.cacert)
    ctx.check_hostname = False
    ctx.load_cert_chain(cluster.admin_cert, cluster.admin_key)
    lock = threading.Lock()
    latencies, errors = [], [0]
    stop_at = time.monotonic() + seconds

    def worker():
        conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
        mine = []
        while time.monotonic() < stop_at:
            with lock:
                if not certs:
                    break
                cert = certs.pop()
            body = json.dumps({"Name": "bench", "Certificate": cert,
                               "SecurityClearance": "ValidUser"}).encode()
            t0 = time.monotonic()
            try:
                conn.request("PUT", "/admin/certificates", body,
                             {"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 201
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
            if ok:
                mine.append(time.monotonic() - t0)
            else:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    latencies.sort()
    return {"clients": clients, "ops": len(latencies), "errors": errors[0],
            "ops_per_s": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "p999_ms": percentile(latencies, 99.9) * 1000}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,16,64")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--pool", type=int, default=0,
                    help="certificates to pre-generate (default: enough)")
    args = ap.parse_args()
    levels = [int(x) for x in args.clients.split(",")]
    tmp = tempfile.mkdtemp(prefix="certraft-bench-")
    pool = args.pool or 200000
    sys.stderr.write("generating %d certificates...\n" % pool)
    certs = make_cert_pool(pool, tmp)
    print("certraft: 3 nodes on loopback, fsync on, %gs per level, %d cores"
          % (args.seconds, os.cpu_count()))
    print("%8s %10s %10s %9s %9s %9s %7s" % ("clients", "ops", "commits/s",
                                            "p50 ms", "p99 ms", "p999 ms", "errors"))
    with Cluster(3) as cluster:
        for n in levels:
            r = run_level(cluster, certs, n, args.seconds)
            print("%8d %10d %10.0f %9.2f %9.2f %9.2f %7d" % (
                r["clients"], r["ops"], r["ops_per_s"], r["p50_ms"],
                r["p99_ms"], r["p999_ms"], r["errors"]), flush=True)
            if not certs:
                sys.stderr.write("certificate pool exhausted; raise --pool\n")
                break


if __name__ == "__main__":
    main()
