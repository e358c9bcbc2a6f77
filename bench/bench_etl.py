#!/usr/bin/env python3
"""Throughput and lag of an ETL link between two certraft clusters.

Starts two 3-node clusters on loopback (raft's default fsync on every
append, on both sides), links them as RavenDB's docs describe (each
cluster's server certificate registered on the other, A's with ReadWrite
on the destination database) and measures:

1. Backlog: N documents already in A's source database when the task is
   defined; the time until the task has delivered every one (status at
   zero lag, B holding them all) gives documents per second through the
   link: read, transformed by the script in the embedded JavaScript
   engine, PUT to B (each a raft commit on B), progress committed on A.
2. Steady rate: for each rate R, a writer puts R documents/s into A for S
   seconds while the status is sampled; prints the lag it reaches (median
   and maximum, in entries and seconds) and how long it takes to drain.

  python3 bench/bench_etl.py [--docs 5000] [--rates 100,300] [--seconds 10]
"""

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "cluster-tests"))

from certraft_cluster import Cluster  # noqa: E402
from etl_helpers import (define, employee, link, status, wait_caught_up,  # noqa: E402
                         write_docs)
from lifecycle_helpers import expect  # noqa: E402

SCRIPT = """
delete this.salary;
loadTo(this);
"""


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def backlog(a, b, n):
    docs = {"emp/%06d" % i: employee(i) for i in range(n)}
    t0 = time.monotonic()
    write_docs(a, "backlog", docs)
    wrote = time.monotonic() - t0
    t0 = time.monotonic()
    define(a, b, src="backlog", name="backlog", script=SCRIPT)
    wait_caught_up(a, "backlog", "backlog", timeout=max(120, n / 20))
    took = time.monotonic() - t0
    got = expect(b.admin.request(b.leader().url, "GET", "/databases"), 200).json()
    held = {d["Name"]: d.get("Documents") for d in got["Databases"]}
    return {"docs": n, "write_s": wrote, "etl_s": took, "rate": n / took,
            "on_b": held.get("public")}


def steady(a, rate, seconds, db):
    """Writes `rate` docs/s for `seconds` into `db`, whose task (same
    name) exists; samples the lag meanwhile."""
    samples, stop = [], threading.Event()

    def sampler():
        while not stop.is_set():
            try:
                s = status(a, db, db)
                samples.append((s["LagEntries"], s["LagSeconds"]))
            except Exception:
                pass
            time.sleep(0.25)

    sm = threading.Thread(target=sampler)
    sm.start()
    start = time.monotonic()
    sent = 0
    # Each tick writes the documents due by then, in parallel.
    while time.monotonic() - start < seconds:
        due = int((time.monotonic() - start) * rate) + 1 - sent
        if due > 0:
            docs = {"%s/%07d" % (db, sent + i): employee(sent + i) for i in range(due)}
            write_docs(a, db, docs, threads=min(8, due))
            sent += due
        time.sleep(0.02)
    wrote_for = time.monotonic() - start
    t0 = time.monotonic()
    wait_caught_up(a, db, db, timeout=120)
    drain = time.monotonic() - t0
    stop.set()
    sm.join()
    entries = [e for e, _ in samples]
    secs = [s for _, s in samples]
    return {"rate": rate, "achieved": sent / wrote_for, "p50_entries": percentile(entries, 50),
            "max_entries": max(entries or [0]), "p50_s": percentile(secs, 50),
            "max_s": max(secs or [0.0]), "drain_s": drain}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=5000, help="backlog size")
    ap.add_argument("--rates", default="100,300", help="steady write rates, docs/s")
    ap.add_argument("--seconds", type=float, default=10, help="per steady rate")
    args = ap.parse_args()
    rates = [int(x) for x in args.rates.split(",") if x]

    with Cluster(3) as a, Cluster(3) as b:
        link(a, b, src="backlog", dst="public")
        r = backlog(a, b, args.docs)
        print("backlog: %d documents delivered in %.1fs = %.0f docs/s through the link "
              "(writing them to A took %.1fs)" % (r["docs"], r["etl_s"], r["rate"], r["write_s"]))
        print()
        print("| write rate (docs/s) | achieved | lag p50 (entries) | lag max (entries) "
              "| lag p50 (s) | lag max (s) | drain after (s) |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for i, rate in enumerate(rates):
            db = "steady%d" % i
            # The task first, on an empty database: the lag is the link's.
            expect(a.request_leader("PUT", "/admin/databases", {"DatabaseName": db}), 201)
            define(a, b, src=db, name=db, script=SCRIPT)
            s = steady(a, rate, args.seconds, db)
            print("| %d | %.0f | %d | %d | %.2f | %.2f | %.1f |" % (
                rate, s["achieved"], s["p50_entries"], s["max_entries"], s["p50_s"], s["max_s"],
                s["drain_s"]), flush=True)


if __name__ == "__main__":
    main()
