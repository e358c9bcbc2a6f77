#!/usr/bin/env python3
"""Authenticated requests: keep-alive reads and full mutual-TLS handshakes.

1. Keep-alive reads on one node (each system's leader), bench/loadgen with
   N connections: certraft `GET /certificates/whoami` and a document read
   (`GET /databases/bench/docs?id=doc1`, a 2 KB JSON document) against
   etcd's serializable read of a key holding the same 2 KB
   (`POST /v3/kv/range {"key", "serializable": true}`), client-certificate
   auth on both. Levels alternate between the systems.

2. Full handshakes: every request is a new TCP connection, a full TLS 1.3
   handshake with the client certificate (P-256, as certnode's), one
   `GET /certificates/whoami` (authentication included) and close. The
   yardstick is OpenSSL itself with the same certificate and key:
   `openssl s_server -HTTP` (client certificate required, no tickets)
   driven by the same loadgen at the same concurrency, and bench/cryptorate
   (an in-process handshake loop whose server side is timed alone). Server
   CPU per handshake comes from /proc for both servers. One more row shows
   s_server with TLS 1.3 session tickets and a client that resumes, which
   is what allowing resumption on the HTTPS listener would buy.

  python3 bench/bench_reads.py [--clients 1,16,64] [--hs-clients 1,8]
                               [--seconds 5] [--no-etcd]
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import (Cluster, CpuMeter, EtcdCluster, free_ports,  # noqa: E402
                      loadgen, wait_until)

DOC = {"Type": "bench", "Payload": "x" * 1950}


def pct_row(system, what, n, r, cpu):
    return [system, what, n, r["ops_per_s"], r["p50_ms"], r["p99_ms"],
            cpu / r["total_ok"] * 1e6 if r["total_ok"] else float("nan"),
            r["errors"]]


def start_s_server(cert, key, cacert, tickets, directory):
    port = free_ports(1)[0]
    # -HTTP serves the file as the complete response, head included
    with open(os.path.join(directory, "whoami"), "w") as f:
        f.write("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                "Content-Length: 3\r\n\r\nok\n")
    args = ["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
            "-cert", cert, "-key", key, "-CAfile", cacert, "-Verify", "1",
            "-HTTP", "-quiet", "-naccept", "100000000"]
    if not tickets:
        args += ["-num_tickets", "0", "-no_ticket"]
    proc = subprocess.Popen(args, cwd=directory, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket

    def up():
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
            return True
        except OSError:
            return False
        finally:
            s.close()
    wait_until("s_server to listen", up, timeout=15)
    return proc, port


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,16,64")
    ap.add_argument("--hs-clients", default="1,8")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--no-etcd", action="store_true")
    args = ap.parse_args()
    levels = [int(x) for x in args.clients.split(",")]
    hs_levels = [int(x) for x in args.hs_clients.split(",")]
    tmp = tempfile.mkdtemp(prefix="bench-reads-")
    secs, warm = args.seconds, args.warmup

    print("Authenticated requests on one node (3-node clusters on loopback); "
          "%gs per level" % secs)
    print(benchlib.machine_note())
    rows, ratio_rows, hs_rows = [], [], []
    etcd = None
    with Cluster(3) as cluster:
        try:
            adm = dict(cacert=cluster.cacert, cert=cluster.admin_cert,
                       key=cluster.admin_key)
            r = cluster.request_leader("PUT", "/admin/databases",
                                       {"DatabaseName": "bench"})
            assert r.status in (200, 201), r
            r = cluster.request_leader("PUT", "/databases/bench/docs?id=doc1", DOC)
            assert r.status in (200, 201), r
            if not args.no_etcd:
                etcd = EtcdCluster().start()
                ei = etcd.leader_index() - 1
                key = base64.b64encode(b"bench/doc1").decode()
                st, _ = etcd.request(ei, "/v3/kv/put", {
                    "key": key,
                    "value": base64.b64encode(json.dumps(DOC).encode()).decode()})
                assert st == 200
                range_body = json.dumps({"key": key, "serializable": True})
                eargs = dict(cacert=etcd.cacert, cert=etcd.client_cert,
                             key=etcd.client_key)
            leader = cluster.leader()
            port = leader.api_address.split(":")[1]
            # wait until followers have the document too (not needed on the
            # leader, but keeps the cluster quiet during the reads)
            time.sleep(0.5)

            for n in levels:
                with CpuMeter([leader.proc.pid]) as m:
                    w = loadgen(port, conns=n, seconds=secs, warmup=warm,
                                path="/certificates/whoami", expect=200, **adm)
                rows.append(pct_row("certraft", "whoami", n, w, m.cpu))
                with CpuMeter([leader.proc.pid]) as m:
                    d = loadgen(port, conns=n, seconds=secs, warmup=warm,
                                path="/databases/bench/docs?id=doc1",
                                expect=200, **adm)
                rows.append(pct_row("certraft", "doc read", n, d, m.cpu))
                if etcd is not None:
                    with CpuMeter([etcd.procs[ei].pid]) as m:
                        e = loadgen(etcd.client_ports[ei], conns=n, seconds=secs,
                                    warmup=warm, method="POST", path="/v3/kv/range",
                                    body=range_body, expect=200, **eargs)
                    rows.append(pct_row("etcd", "serializable range", n, e, m.cpu))
                    ratio_rows.append([n, w["ops_per_s"] / e["ops_per_s"],
                                       d["ops_per_s"] / e["ops_per_s"]])
                print("  reads N=%d done" % n, file=sys.stderr, flush=True)

            # --- handshakes ---------------------------------------------------
            crt = os.path.join(leader.data, "cluster.crt")
            keyf = os.path.join(leader.data, "cluster.key")
            ssdir = os.path.join(tmp, "s_server")
            os.makedirs(ssdir)
            cr = json.loads(subprocess.run(
                [benchlib.bench_binary("cryptorate"), "--seconds",
                 str(max(1.0, secs / 2))], capture_output=True, text=True,
                check=True).stdout)
            for n in hs_levels:
                with CpuMeter([leader.proc.pid]) as m:
                    c = loadgen(port, conns=n, seconds=secs, warmup=warm,
                                path="/certificates/whoami", expect=200,
                                new_conn=True, **adm)
                hs_rows.append(pct_row("certnode", "whoami, new conn", n, c,
                                       m.cpu))
                proc, sport = start_s_server(crt, keyf, cluster.cacert, False, ssdir)
                try:
                    with CpuMeter([proc.pid]) as m:
                        s = loadgen(sport, conns=n, seconds=secs, warmup=warm,
                                    path="/whoami", expect=200, new_conn=True,
                                    **adm)
                finally:
                    proc.kill()
                    proc.wait()
                hs_rows.append(pct_row("openssl s_server", "full handshake", n,
                                       s, m.cpu))
                proc, sport = start_s_server(crt, keyf, cluster.cacert, True, ssdir)
                try:
                    with CpuMeter([proc.pid]) as m:
                        rs = loadgen(sport, conns=n, seconds=secs, warmup=warm,
                                     path="/whoami", expect=200, new_conn=True,
                                     resume=True, **adm)
                finally:
                    proc.kill()
                    proc.wait()
                hs_rows.append(pct_row("openssl s_server", "resumed (%d/%d)" % (
                    rs["resumed"], rs["handshakes"]), n, rs, m.cpu))
                hs_rows[-3].append(c["ops_per_s"] / max(s["ops_per_s"], 1e-9))
                print("  handshakes N=%d done" % n, file=sys.stderr, flush=True)
        finally:
            if etcd is not None:
                etcd.stop()
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    print("Keep-alive authenticated reads (server CPU = that node's process):")
    benchlib.print_table(["system", "request", "clients", "ops/s", "p50 ms",
                          "p99 ms", "server CPU us/op", "errors"], rows)
    if ratio_rows:
        print()
        benchlib.print_table(["clients", "whoami / etcd", "doc read / etcd"],
                             ratio_rows)
        best = max(r[1] for r in ratio_rows)
        print("target keep-alive reads >= 1.5x etcd serializable reads: "
              "whoami %s (%s)" % (
                  ", ".join("%.2fx@%d" % (r[1], r[0]) for r in ratio_rows),
                  "met" if min(r[1] for r in ratio_rows) >= 1.5 else
                  ("met at best level" if best >= 1.5 else "MISSED")))
    print()
    print("Full mutual-TLS handshakes (new connection + handshake + one "
          "request):")
    for r in hs_rows:
        if len(r) < 9:
            r.append("")
    benchlib.print_table(["server", "what", "clients", "conn/s", "p50 ms",
                          "p99 ms", "server CPU us/conn", "errors",
                          "certnode/s_server"], hs_rows)
    print()
    print("OpenSSL in-process (bench/cryptorate, one core): full mutual-TLS "
          "handshake server side %.0f us CPU -> %.0f handshakes/s; "
          "client side %.0f us" % (cr["handshake_server_us"],
                                   cr["handshake_server_per_s"],
                                   cr["handshake_client_us"]))
    certnode_cpu = [r[6] for r in hs_rows if r[0] == "certnode"]
    if certnode_cpu:
        eff = cr["handshake_server_us"] / max(certnode_cpu)
        ratios = [r[8] for r in hs_rows if r[0] == "certnode"]
        print("target full handshakes >= 0.8x raw OpenSSL: certnode/s_server "
              "throughput %s; raw server CPU / certnode CPU per handshake "
              "%.2fx -> %s" % (", ".join("%.2fx" % x for x in ratios), eff,
                               "met" if min(ratios) >= 0.8 else "MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
