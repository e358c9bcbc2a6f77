#!/usr/bin/env python3
"""An ETL link through a destination outage, a revoked right, and a
renewed source certificate.

Two 3-node clusters linked as in test_etl_link.py, the task running.

- B down (every node killed) for ETL_OUTAGE_SECONDS (default 30) while A
  keeps taking writes: the status shows the task retrying with the
  connection error, and its lag growing in entries and seconds (so does
  the certraft_etl_lag_entries metric); when B is back it catches up to
  zero lag and B holds exactly what it should.
- B downgrades its registration of A to Read: the task reports the 403 in
  its status and writes nothing; A itself is unaffected (writes and reads
  go on). Restoring ReadWrite resumes the task, which catches up.
- A renews its cluster certificate with the same key
  (renew-cluster-cert): every node of A serves the new certificate, B
  trusts it by its pinning hash (implicit trust registers it there, under
  the old entry's name) and the link keeps delivering.
"""

import os
import sys
import threading
import time

from certraft_cluster import Cluster, run_tests, wait_until
from etl_helpers import (define, docs_on, employee, expected_public, link, status,
                         wait_caught_up, wait_docs, write_docs)
from lifecycle_helpers import expect, metrics_of, write
from trust_helpers import MultiTrustClient, served_der, served_thumbprint, wait_phase

A = None
B = None
A_THUMB = None
OUTAGE = float(os.environ.get("ETL_OUTAGE_SECONDS", "30"))
written = {}
counter = [0]


def more(n):
    docs = {}
    for _ in range(n):
        i = counter[0]
        counter[0] += 1
        docs["employees/%05d" % i] = employee(i)
    write_docs(A, "hr", docs)
    written.update(docs)
    return docs


def test_destination_down_lag_shows_then_catches_up():
    define(A, B)
    more(300)
    wait_docs(B, "public", expected_public(written))
    wait_caught_up(A)
    for n in B.nodes.values():
        n.kill()
    down_at = time.monotonic()
    samples = []
    while time.monotonic() - down_at < OUTAGE:
        more(10)
        samples.append(status(A))
        time.sleep(0.5)
    s = samples[-1]
    assert s["State"] == "Retrying", s
    assert "unreachable" in s["LastError"]["Message"], s
    assert s["LagEntries"] >= 10 * (len(samples) - 2), s
    assert s["LagSeconds"] >= OUTAGE * 0.6, s
    lags = [x["LagEntries"] for x in samples]
    assert lags == sorted(lags) and lags[-1] > lags[0], lags
    m = metrics_of(A.admin, A.leader().url)[0]
    assert m['certraft_etl_lag_entries{db="hr",task="to-public"}'] >= lags[-1], m
    print("     B down %.0fs: lag reached %d entries / %.1fs" % (
        time.monotonic() - down_at, s["LagEntries"], s["LagSeconds"]), flush=True)
    back = time.monotonic()
    for n in B.nodes.values():
        n.start()
    B.leader(timeout=60)
    wait_docs(B, "public", expected_public(written), timeout=60)
    s = wait_caught_up(A, timeout=60)
    print("     caught up %.1fs after B came back" % (time.monotonic() - back), flush=True)
    assert s["LagEntries"] == 0 and s["LagSeconds"] == 0 and s["ConsecutiveFailures"] == 0, s


def set_access(level):
    expect(B.request_leader("POST", "/admin/certificates/edit", {
        "Thumbprint": A_THUMB, "Permissions": {"public": level}}), 200, "B sets A to " + level)


def test_read_only_at_destination_stops_writes_with_403():
    before = docs_on(B, "public")
    set_access("Read")
    new = more(30)
    s = wait_until("the task to report a 403", lambda: (
        lambda s: s if s["LastError"] and s["LastError"]["HttpStatus"] == 403 else None)(
            status(A)), timeout=30, interval=0.2)
    assert s["State"] == "Retrying" and s["LagEntries"] > 0, s
    assert "ReadWrite" in s["LastError"]["Message"] or "403" in str(s["LastError"]), s
    time.sleep(2)
    assert docs_on(B, "public") == before, "the task wrote while refused"
    # A is unaffected: it takes writes and serves reads on every node.
    more(5)
    for n in A.running_nodes():
        expect(A.admin.request(n.url, "GET", "/databases/hr/docs?id=" + sorted(new)[0]), 200)
    set_access("ReadWrite")
    wait_docs(B, "public", expected_public(written), timeout=60)
    wait_caught_up(A)


def test_renewed_source_certificate_is_trusted_by_pin():
    lead = A.leader()
    old_thumb = served_thumbprint(lead.url)
    r = expect(A.admin.request(lead.url, "POST", "/admin/certificates/renew-cluster-cert",
                               {"ReplaceImmediately": True}), 202, "renew A's certificate")
    new_thumb = r.json()["Thumbprint"]
    assert new_thumb != old_thumb
    for n in A.running_nodes():
        wait_until("node %d to serve the renewed certificate" % n.id,
                   lambda: served_thumbprint(n.url) == new_thumb, timeout=60)
    pem = os.path.join(A.dir, "renewed.crt")
    import ssl
    write(pem, ssl.DER_cert_to_PEM_cert(served_der(lead.url)).encode())
    A.admin = MultiTrustClient([pem, A.cacert], A.admin_cert, A.admin_key)
    wait_phase(A.admin, A.running_nodes(), "Done", timeout=60)
    more(30)
    wait_docs(B, "public", expected_public(written), timeout=60)
    s = wait_caught_up(A)
    assert s["LagEntries"] == 0, s
    # B registered A's renewed certificate by implicit trust.
    e = wait_until("B to register A's renewed certificate", lambda: B.request_leader(
        "GET", "/admin/certificates?thumbprint=" + new_thumb).json().get("Results"), timeout=30)
    assert e[0]["Name"] == "cluster A" and e[0]["Permissions"] == {"public": "ReadWrite"}, e


def main():
    global A, B, A_THUMB
    with Cluster(3) as a, Cluster(3) as b:
        A, B = a, b
        A_THUMB = link(a, b)
        code = run_tests([
            test_destination_down_lag_shows_then_catches_up,
            test_read_only_at_destination_stops_writes_with_403,
            test_renewed_source_certificate_is_trusted_by_pin,
        ], a)
        if code:
            b.dump_logs()
    sys.exit(code)


if __name__ == "__main__":
    main()
