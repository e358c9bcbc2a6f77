#!/usr/bin/env python3
"""The audit trail and the metrics of a 3-node cluster, and purging
expired certificates.

- Every admin operation (upload, generate, edit, disable, delete, database
  create/delete, purge, refused ones too) appears in GET /admin/audit with
  the caller's thumbprint and name, the operation, the target, its log
  index and outcome; every node shows the same trail.
- GET /metrics (any registered certificate) exposes the request counters
  by route and status, raft's term/commit/applied/leader, and the
  registry's size and near expiries, with values that match what the
  cluster shows otherwise.
- DELETE /admin/certificates/purge removes exactly the expired entries.
"""

import datetime
import hashlib
import io
import sys
import zipfile

from certraft_cluster import Cluster, openssl, run_tests, thumbprint_of, wait_until
from lifecycle_helpers import (audit_of, expect, expect_error, generate,
                               known_everywhere, make_dated, metrics_of, read,
                               register, snapshot, upload_body)

cluster = None
operator = None  # (client, thumbprint, name)

SERIES = ["certraft_raft_term", "certraft_raft_commit_index",
          "certraft_raft_applied_index", "certraft_raft_leader",
          "certraft_certificates", "certraft_certificates_expiring_30d"]


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")


def new_records(since):
    records, total = audit_of(cluster.admin, cluster.leader().url)
    assert total == len(records), (total, len(records))
    return records[since:]


def test_every_admin_operation_is_audited():
    admin_thumb = thumbprint_of(cluster.admin_cert)
    op_client, op_thumb, op_name = operator
    lead = cluster.leader()
    follower = cluster.followers()[0]
    start = len(audit_of(cluster.admin, lead.url)[0])
    expected = []  # (Caller, CallerName, Operation, Target, Status)

    def done(resp, status, caller, operation, target, outcome="OK"):
        expect(resp, status, "%s %s" % (operation, target))
        thumb, name = caller
        expected.append((thumb, name, operation, target, outcome))

    A = (admin_thumb, "Cluster Admin")
    O = (op_thumb, op_name)
    crt, key = cluster.new_cert("audited")
    x = thumbprint_of(crt)
    done(cluster.admin.request(follower.url, "PUT", "/admin/certificates",
                               upload_body("audited", read(crt), "ValidUser")),
         201, A, "CertPut", x)
    r = op_client.request(lead.url, "POST", "/admin/certificates",
                          {"Name": "op-made", "Permissions": {"hr": "Read"}})
    expect(r, 201, "generate")
    with zipfile.ZipFile(io.BytesIO(r.body)) as z:
        g = hashlib.sha256(openssl("x509", "-outform", "DER", input=z.read(
            "op-made.crt"))).hexdigest().upper()
    done(r, 201, O, "CertPut", g)
    done(op_client.request(follower.url, "POST", "/admin/certificates/edit",
                           {"Thumbprint": x, "Name": "audited-renamed"}), 200, O, "CertEdit", x)
    done(cluster.admin.request(lead.url, "POST", "/admin/certificates/edit",
                               {"Thumbprint": x, "Disabled": True}), 200, A, "CertEdit", x)
    done(op_client.request(lead.url, "DELETE", "/admin/certificates?thumbprint=" + x),
         200, O, "CertDelete", x)
    done(op_client.request(follower.url, "PUT", "/admin/databases",
                           {"DatabaseName": "audited-db"}), 201, O, "DatabasePut", "audited-db")
    done(cluster.admin.request(lead.url, "DELETE", "/admin/databases?name=audited-db"),
         200, A, "DatabaseDelete", "audited-db")
    # Refused by apply(): recorded with their outcome.
    done(op_client.request(lead.url, "DELETE", "/admin/certificates?thumbprint=" + admin_thumb),
         403, O, "CertDelete", admin_thumb, "Forbidden")
    unknown = "EF" * 32
    done(cluster.admin.request(lead.url, "DELETE", "/admin/certificates?thumbprint=" + unknown),
         404, A, "CertDelete", unknown, "NotFound")

    got = new_records(start)
    seen = [(r["Caller"], r["CallerName"], r["Operation"], r["Target"], r["Status"])
            for r in got]
    assert seen == expected, "audit records:\n  %s\nexpected:\n  %s" % (
        "\n  ".join(map(str, seen)), "\n  ".join(map(str, expected)))
    # Indexes are log indexes: increasing, and committed.
    indexes = [r["Index"] for r in got]
    assert indexes == sorted(set(indexes)), indexes
    metrics, _ = metrics_of(cluster.admin, lead.url)
    assert indexes[-1] <= metrics["certraft_raft_commit_index"], (indexes, metrics)
    # Times are when it happened (UTC), in order.
    now = datetime.datetime.utcnow()
    times = [parse_time(r["Time"]) for r in got]
    assert times == sorted(times), times
    assert all(abs((now - t).total_seconds()) < 120 for t in times), (now, times)
    # The cluster's own history is there too: who admitted each node.
    everything, _ = audit_of(cluster.admin, lead.url)
    ops = [(r["Operation"], r["Target"], r["Caller"]) for r in everything]
    assert ops[0][0] == "Bootstrap", ops[0]
    for node in (2, 3):
        assert ("NodePending", "node %d" % node, admin_thumb) in ops, ops
    # Every node holds the same trail.
    for n in cluster.running_nodes():
        wait_until("node %d's audit to match" % n.id,
                   lambda: audit_of(cluster.admin, n.url)[0] == everything, timeout=10)
    # certctl shows it to an operator.
    p = cluster.certctl("audit", "--start", str(start))
    assert p.returncode == 0, p
    for needle in ("CertDelete", "DatabasePut", "audited-db", "Forbidden", op_name):
        assert needle in p.stdout, (needle, p.stdout)


def test_audit_is_for_cluster_admins_only():
    vu = known_everywhere(cluster, *register_user("auditor-vu"))
    before = snapshot(cluster)
    for client, what in ((operator[0], "Operator"), (vu, "ValidUser")):
        for n in cluster.running_nodes():
            expect_error(client.request(n.url, "GET", "/admin/audit"), 403, "ClusterAdmin",
                         what="%s reads the audit" % what)
    assert snapshot(cluster) == before


def register_user(name):
    _, crt, key = register(cluster, name, "ValidUser", {"hr": "Read"})
    return crt, key


def test_metrics_expose_the_series_with_sane_values():
    crt, key = register_user("metrics-reader")
    reader = known_everywhere(cluster, crt, key)
    lead = cluster.leader()
    # Who may read them.
    expect_error(cluster.client().request(lead.url, "GET", "/metrics"), 401,
                 "no client certificate")
    s_crt, s_key = cluster.new_cert("metrics-stranger")
    expect_error(cluster.client(s_crt, s_key).request(lead.url, "GET", "/metrics"), 403,
                 thumbprint_of(s_crt))

    want_certs = len(snapshot(cluster)["certs"])
    views = {}
    for n in cluster.running_nodes():
        wait_until("node %d to count %d certificates" % (n.id, want_certs),
                   lambda: metrics_of(reader, n.url)[0]["certraft_certificates"] == want_certs,
                   timeout=10)
        m, text = metrics_of(reader, n.url)
        for s in SERIES:
            assert s in m, "node %d lacks %s:\n%s" % (n.id, s, text)
            assert "# TYPE %s gauge" % s in text, s
        assert "# TYPE certraft_http_requests_total counter" in text, text
        assert any(k.startswith('certraft_http_requests_total{route="whoami",status="200"}')
                   for k in m), text
        assert m["certraft_raft_term"] >= 1, m
        assert m["certraft_raft_leader"] == lead.id, (n.id, m["certraft_raft_leader"])
        assert 0 < m["certraft_raft_applied_index"] <= m["certraft_raft_commit_index"], m
        # Startup (raft's load, the first requests) made the loop work a
        # little; a quiet test cluster does not hold it for seconds, even
        # on a loaded machine under a sanitizer.
        assert 0 < m["certraft_loop_busy_max_seconds"] < 5.0, m
        assert "# TYPE certraft_loop_slow_iterations_total counter" in text, text
        views[n.id] = m
    assert len({m["certraft_raft_term"] for m in views.values()}) == 1, views
    # The leader has committed at least everything the audit records.
    records, _ = audit_of(cluster.admin, lead.url)
    assert views[lead.id]["certraft_raft_commit_index"] >= records[-1]["Index"]

    # Counters count: 5 more whoami on a follower, 2 refused ones.
    f = cluster.followers()[0]
    ok_key = 'certraft_http_requests_total{route="whoami",status="200"}'
    no_key = 'certraft_http_requests_total{route="whoami",status="403"}'
    m0, _ = metrics_of(reader, f.url)
    for _ in range(5):
        expect(reader.request(f.url, "GET", "/certificates/whoami"), 200)
    stranger = cluster.client(s_crt, s_key)
    for _ in range(2):
        expect(stranger.request(f.url, "GET", "/certificates/whoami"), 403)
    m1, _ = metrics_of(reader, f.url)
    assert m1[ok_key] - m0.get(ok_key, 0) == 5, (m0.get(ok_key), m1[ok_key])
    assert m1[no_key] - m0.get(no_key, 0) == 2, (m0.get(no_key), m1.get(no_key))
    # A write moves the commit index on.
    m0, _ = metrics_of(reader, lead.url)
    expect(cluster.request_leader("PUT", "/admin/databases", {"DatabaseName": "m1"}), 201)
    m1, _ = metrics_of(reader, lead.url)
    assert m1["certraft_raft_commit_index"] > m0["certraft_raft_commit_index"], (m0, m1)
    assert m1["certraft_raft_applied_index"] >= m0["certraft_raft_applied_index"] + 1
    # Client writes go to the log in batches; this one alone made one.
    assert m1["certraft_proposals_total"] == m0["certraft_proposals_total"] + 1, (m0, m1)
    assert (m1["certraft_proposal_appends_total"] ==
            m0["certraft_proposal_appends_total"] + 1), (m0, m1)

    # Near expiries: within 30 days counts, 60 days does not.
    def expiring():
        return metrics_of(reader, lead.url)[0]["certraft_certificates_expiring_30d"]
    e0, c0 = expiring(), metrics_of(reader, lead.url)[0]["certraft_certificates"]
    generate(cluster, "ten-days", ExpirationDays=10, check_header=False)
    assert expiring() == e0 + 1, (e0, expiring())
    register(cluster, "sixty-days", days=60)
    assert expiring() == e0 + 1, (e0, expiring())
    register(cluster, "twenty-days", days=20)
    assert expiring() == e0 + 2, (e0, expiring())
    assert metrics_of(reader, lead.url)[0]["certraft_certificates"] == c0 + 3
    listed = cluster.request_leader("GET", "/admin/certificates?expiringWithinDays=30").json()
    names = sorted(e["Name"] for e in listed["Results"])
    assert "ten-days" in names and "twenty-days" in names and "sixty-days" not in names, names


def test_purge_removes_exactly_the_expired_certificates():
    op_client, op_thumb, _ = operator
    expired = []
    for name in ("expired-1", "expired-2"):
        crt, key = make_dated(cluster.dir, name)
        r = cluster.request_leader("PUT", "/admin/certificates",
                                   upload_body(name, read(crt), "ValidUser", {"hr": "Read"}))
        expect(r, 201, "upload " + name)
        expired.append((r.json()["Thumbprint"], crt, key))
        expect_error(cluster.client(crt, key).request(cluster.leader().url, "GET",
                                                      "/certificates/whoami"),
                     403, "expired", what=name)
    valid_thumb, _, _ = register(cluster, "still-valid", days=5)
    lead = cluster.leader()
    m0, _ = metrics_of(cluster.admin, lead.url)
    assert m0.get("certraft_certificates_expired") == 2, m0
    before = snapshot(cluster)
    start = len(audit_of(cluster.admin, lead.url)[0])

    r = op_client.request(cluster.followers()[0].url, "DELETE", "/admin/certificates/purge")
    expect(r, 200, "purge")
    assert sorted(r.json()["Purged"]) == sorted(t for t, _, _ in expired), r
    after = snapshot(cluster)
    assert set(before["certs"]) - set(after["certs"]) == {t for t, _, _ in expired}
    assert set(after["certs"]) <= set(before["certs"])
    assert valid_thumb in after["certs"]
    m1, _ = metrics_of(cluster.admin, lead.url)
    assert m1["certraft_certificates"] == m0["certraft_certificates"] - 2, (m0, m1)
    assert m1.get("certraft_certificates_expired") == 0, m1
    recs = new_records(start)
    assert any(r["Caller"] == op_thumb and "purge" in r["Operation"].lower() and
               r["Status"] == "OK" for r in recs), recs
    # Nothing left to purge; and certctl does the same.
    r = cluster.admin.request(lead.url, "DELETE", "/admin/certificates/purge")
    assert expect(r, 200, "second purge").json() == {"Purged": []}, r
    crt, _ = make_dated(cluster.dir, "expired-3")
    t3 = expect(cluster.request_leader("PUT", "/admin/certificates",
                                       upload_body("expired-3", read(crt))), 201).json()["Thumbprint"]
    p = cluster.certctl("certs", "purge")
    assert p.returncode == 0 and t3 in p.stdout, p
    assert t3 not in snapshot(cluster)["certs"]


def main():
    global cluster, operator
    with Cluster(3) as c:
        cluster = c
        expect(c.request_leader("PUT", "/admin/databases", {"DatabaseName": "hr"}), 201)
        thumb, crt, key = register(c, "ops-1", "Operator")
        operator = (known_everywhere(c, crt, key), thumb, "ops-1")
        code = run_tests([
            test_every_admin_operation_is_audited,
            test_audit_is_for_cluster_admins_only,
            test_metrics_expose_the_series_with_sane_values,
            test_purge_removes_exactly_the_expired_certificates,
        ], cluster)
    sys.exit(code)


if __name__ == "__main__":
    main()
