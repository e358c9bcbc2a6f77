#!/usr/bin/env python3
"""ETL from a sensitive database to a public one on another cluster
(RavenDB's "Using ETL for selective, one-way data transfer").

Two clusters of three certnode processes. A's server certificate is
registered on B with ReadWrite on `public`, B's on A (so A knows whom it
talks to); a task on A's `hr` runs a RavenDB-style script that loads only
documents with Public == true, without their salary.

- 5,000 documents written to A while the task runs: B's `public` ends with
  exactly the expected documents and no salary anywhere; the status and
  every node's metrics show zero lag. Updates that make a document
  private and deletions on A remove it from B; documents written on B
  never flow back.
- The test endpoint returns a script's output on a sample (or stored)
  document and writes nothing, on either cluster; it reports a script
  that throws or loops forever.
- A script that loads several documents per source writes <id>/1..n;
  a later version with fewer (or one, or none) and a deletion remove what
  the earlier one loaded.
- A task whose script throws on some documents, or loops forever, skips
  those documents, records the error in its status (document id and
  message), delivers the rest, and the node stays healthy. A script that
  does not compile is refused at definition time (400).
- Definitions are validated (https URLs, names) and need Admin on the
  source database; certctl etl add|list|status|test|delete work.
"""

import json
import os
import sys
import time

from certraft_cluster import Cluster, run_tests, wait_until
from etl_helpers import (PUBLIC_SCRIPT, define, docs_on, employee, expected_public, link,
                         no_salary_anywhere, status, task_body, wait_caught_up, wait_docs,
                         write_docs)
from lifecycle_helpers import expect, expect_error, metrics_of, register

A = None
B = None
N_DOCS = int(os.environ.get("ETL_DOCS", "5000"))
written = {}  # what A's hr holds


def test_5000_documents_cross_redacted():
    define(A, B)
    docs = {"employees/%05d" % i: employee(i) for i in range(N_DOCS)}
    start = time.monotonic()
    write_docs(A, "hr", docs)
    written.update(docs)
    wrote = time.monotonic() - start
    want = expected_public(written)
    got = wait_docs(B, "public", want, timeout=120)
    print("     %d documents written in %.1fs, %d on B after %.1fs" % (
        len(docs), wrote, len(got), time.monotonic() - start), flush=True)
    no_salary_anywhere(got)
    s = wait_caught_up(A)
    # (A slow machine may have seen a retried timeout: LastError keeps it.)
    assert s["LagEntries"] == 0 and s["ConsecutiveFailures"] == 0, s
    assert s["DocumentsLoaded"] >= len(want) and s["ScriptErrors"] == 0, s
    assert s["RunningOn"] == A.leader().id, s
    # Every node's metrics agree: lag is replicated state.
    for n in A.running_nodes():
        series = wait_until("node %d's metric at zero lag" % n.id, lambda: (
            lambda m: m if m.get('certraft_etl_lag_entries{db="hr",task="to-public"}') == 0
            else None)(metrics_of(A.admin, n.url)[0]), timeout=10)
        assert series['certraft_etl_lag_seconds{db="hr",task="to-public"}'] == 0, series


def test_updates_and_deletes_follow_changes_on_b_stay_there():
    ids = sorted(k for k, v in written.items() if v["Public"])[:20]
    changed = {}
    for k in ids[:10]:  # now private: must disappear from B
        changed[k] = dict(written[k], Public=False)
    for k in ids[10:15]:  # new salary and title: B shows the title only
        changed[k] = dict(written[k], salary=1, Title="lead")
    write_docs(A, "hr", changed)
    written.update(changed)
    for k in ids[15:20]:
        expect(A.request_leader("DELETE", "/databases/hr/docs?id=" + k), 200)
        del written[k]
    got = wait_docs(B, "public", expected_public(written))
    assert all(k not in got for k in ids[:10] + ids[15:20])
    assert got[ids[10]]["Title"] == "lead" and "salary" not in got[ids[10]]
    # One way only: a document written on B never reaches A.
    expect(B.request_leader("PUT", "/databases/public/docs?id=from-b", {"x": 1}), 201)
    expect(A.request_leader("GET", "/databases/hr/docs?id=from-b"), 404)
    wait_caught_up(A)
    time.sleep(1)
    assert A.request_leader("GET", "/databases/hr/docs?id=from-b").status == 404
    expect(B.request_leader("DELETE", "/databases/public/docs?id=from-b"), 200)


def last_public():
    """A public document the other tests leave alone."""
    return max(k for k, v in written.items() if v.get("Public") and "Title" not in v)


def counts():
    return (len(docs_on(A, "hr")), len(docs_on(B, "public")))


def test_test_endpoint_returns_output_and_writes_nothing():
    before = counts()
    r = expect(A.request_leader("POST", "/databases/hr/admin/etl/test", {
        "Script": PUBLIC_SCRIPT, "DocumentId": last_public()}), 200, "test on a stored doc")
    res = r.json()
    assert res["Error"] is None, res
    assert res["Results"] == [{"Id": last_public(),
                               "Document": expected_public(
                                   {"x": written[last_public()]})["x"]}], res
    r = expect(A.request_leader("POST", "/databases/hr/admin/etl/test", {
        "Name": "to-public", "Document": {"Public": False, "salary": 3}}), 200).json()
    assert r["Results"] == [] and r["Error"] is None, r
    r = expect(A.request_leader("POST", "/databases/hr/admin/etl/test", {
        "Script": "for (var i = 0; i < 3; i++) loadTo('Parts', {n: i, of: id(this)});",
        "Document": {}}), 200).json()
    assert [d["Id"] for d in r["Results"]] == ["sample/1/1", "sample/1/2", "sample/1/3"], r
    start = time.monotonic()
    r = expect(A.request_leader("POST", "/databases/hr/admin/etl/test", {
        "Script": "while (true) {}", "Document": {"a": 1}}), 200).json()
    assert "longer than" in r["Error"] and r["Results"] == [], r
    assert time.monotonic() - start < 5
    r = expect(A.request_leader("POST", "/databases/hr/admin/etl/test", {
        "Script": "throw new TypeError('no way')", "Document": {}}), 200).json()
    assert "TypeError: no way" in r["Error"], r
    r = expect(A.request_leader("POST", "/databases/hr/admin/etl/test", {
        "Script": "loadTo(", "Document": {}}), 200).json()
    assert "does not compile" in r["Error"], r
    time.sleep(0.5)
    assert counts() == before, "the test endpoint wrote something"


granted = {"public": "ReadWrite"}


def grant_on_b(db):
    """Database `db` on B, and A's server certificate may write it."""
    r = B.request_leader("PUT", "/admin/databases", {"DatabaseName": db})
    assert r.status in (201, 409), r
    granted[db] = "ReadWrite"
    a_entry = B.request_leader("GET", "/admin/certificates?name=cluster%20A").json()["Results"]
    expect(B.request_leader("POST", "/admin/certificates/edit", {
        "Thumbprint": a_entry[0]["Thumbprint"], "Permissions": granted}), 200)


def test_failing_scripts_skip_documents_and_are_reported():
    for db in ("hr2", "hr3"):
        expect(A.request_leader("PUT", "/admin/databases", {"DatabaseName": db}), 201)
    grant_on_b("public2")
    throwing = "if (this.Dept === 'd3') throw new Error('bad ' + id(this)); loadTo(this);"
    define(A, B, src="hr2", name="throws", dst="public2", script=throwing)
    docs = {"e/%02d" % i: {"Dept": "d%d" % (i % 5)} for i in range(20)}
    write_docs(A, "hr2", docs)
    want = {k: v for k, v in docs.items() if v["Dept"] != "d3"}
    wait_docs(B, "public2", want)
    s = wait_caught_up(A, "throws", "hr2")
    assert s["ScriptErrors"] == 4, s
    assert s["LastScriptError"]["Message"].startswith("Error: bad e/"), s
    assert s["LastScriptError"]["DocumentId"] in {k for k in docs if k not in want}, s

    # A script that never ends: each document is stopped, the node lives.
    define(A, B, src="hr3", name="loops", dst="public2", script="while (true) {}")
    write_docs(A, "hr3", {"x/%d" % i: {"i": i} for i in range(3)})
    s = wait_until("the looping script's documents to be stopped", lambda: (
        lambda s: s if s["ScriptErrors"] >= 3 and s["LagEntries"] == 0 else None)(
            status(A, "loops", "hr3")), timeout=30)
    assert "longer than" in s["LastScriptError"]["Message"], s
    assert set(docs_on(B, "public2")) == set(want), "a looping script wrote something"
    for n in A.running_nodes():
        expect(A.admin.request(n.url, "GET", "/cluster/topology"), 200)
    # Scripts that do not compile are refused when defined.
    expect_error(A.request_leader("PUT", "/databases/hr3/admin/etl",
                                  task_body(B, name="broken", script="loadTo(this")),
                 400, "compile")
    for name, db in (("throws", "hr2"), ("loops", "hr3")):
        expect(A.request_leader("DELETE", "/databases/%s/admin/etl?name=%s" % (db, name)), 200)
    expect_error(A.request_leader("GET", "/databases/hr3/admin/etl/status?name=loops"), 404)


def test_several_loads_per_document():
    """<id>/1..n for several loadTo calls; fewer later, or one, or none, or
    a deletion, removes what the earlier version loaded."""
    expect(A.request_leader("PUT", "/admin/databases", {"DatabaseName": "hr4"}), 201)
    grant_on_b("parts")
    define(A, B, src="hr4", name="split", dst="parts",
           script="for (var i = 0; i < this.n; i++) loadTo('Parts', {part: i, of: id(this)});")

    def derived():
        return docs_on(B, "parts")

    def expect_parts(want):
        wait_until("B's parts to be %r" % sorted(want), lambda: derived() == want, timeout=30)

    write_docs(A, "hr4", {"order/1": {"n": 3}, "order/2": {"n": 2}})
    expect_parts({"order/1/%d" % (i + 1): {"part": i, "of": "order/1"} for i in range(3)} |
                 {"order/2/%d" % (i + 1): {"part": i, "of": "order/2"} for i in range(2)})
    write_docs(A, "hr4", {"order/1": {"n": 1}, "order/2": {"n": 0}})
    expect_parts({"order/1": {"part": 0, "of": "order/1"}})
    write_docs(A, "hr4", {"order/1": {"n": 2}})
    expect_parts({"order/1/1": {"part": 0, "of": "order/1"}, "order/1/2": {"part": 1, "of": "order/1"}})
    expect(A.request_leader("DELETE", "/databases/hr4/docs?id=order/1"), 200)
    expect_parts({})
    expect(A.request_leader("DELETE", "/databases/hr4/admin/etl?name=split"), 200)


def test_definitions_are_validated_and_need_db_admin():
    bad = task_body(B, name="bad")
    bad["DestinationUrls"] = ["http://127.0.0.1:1"]
    expect_error(A.request_leader("PUT", "/databases/hr/admin/etl", bad), 400, "https")
    bad = task_body(B, name="bad name")
    expect_error(A.request_leader("PUT", "/databases/hr/admin/etl", bad), 400, "name")
    expect_error(A.request_leader("PUT", "/databases/nope/admin/etl", task_body(B)), 404)
    _, crt, key = register(A, "hr-writer", "ValidUser", {"hr": "ReadWrite"})
    writer = A.client(crt, key)
    lead = A.leader()
    for method, path, body in (("GET", "/databases/hr/admin/etl", None),
                               ("PUT", "/databases/hr/admin/etl", task_body(B, name="x")),
                               ("GET", "/databases/hr/admin/etl/status", None),
                               ("POST", "/databases/hr/admin/etl/test",
                                {"Script": "loadTo(this)", "Document": {}})):
        expect_error(writer.request(lead.url, method, path, body), 403, "hr",
                     what="%s %s as a ReadWrite user" % (method, path))
    listed = expect(A.request_leader("GET", "/databases/hr/admin/etl"), 200).json()["Results"]
    assert [t["Name"] for t in listed] == ["to-public"], listed
    assert listed[0]["DestinationDatabase"] == "public" and listed[0]["ProgressIndex"] > 0


def test_certctl_etl_commands():
    urls = ",".join(n.url for n in B.nodes.values())
    script = os.path.join(A.dir, "public.js")
    with open(script, "w") as f:
        f.write(PUBLIC_SCRIPT)
    p = A.certctl("etl", "add", "--db", "hr", "--name", "cli-task", "--url", urls,
                  "--dest-db", "public", "--script", script, "--prefix", "employees/0000")
    assert p.returncode == 0, p
    p = A.certctl("etl", "list", "--db", "hr")
    assert p.returncode == 0 and "cli-task" in p.stdout and "to-public" in p.stdout, p
    p = A.certctl("etl", "test", "--db", "hr", "--script", script, "--id", last_public())
    assert p.returncode == 0, p
    out = json.loads(p.stdout)
    assert out["Results"][0]["Id"] == last_public() and "salary" not in p.stdout, p.stdout
    wait_caught_up(A, "cli-task")
    p = A.certctl("etl", "status", "--db", "hr", "--name", "cli-task")
    assert p.returncode == 0 and "CaughtUp" in p.stdout, p
    p = A.certctl("etl", "delete", "--db", "hr", "--name", "cli-task")
    assert p.returncode == 0, p
    p = A.certctl("etl", "status", "--db", "hr", "--name", "cli-task")
    assert p.returncode != 0 and "cli-task" in p.stderr, p


def main():
    global A, B
    with Cluster(3) as a, Cluster(3) as b:
        A, B = a, b
        link(a, b)
        code = run_tests([
            test_5000_documents_cross_redacted,
            test_updates_and_deletes_follow_changes_on_b_stay_there,
            test_test_endpoint_returns_output_and_writes_nothing,
            test_failing_scripts_skip_documents_and_are_reported,
            test_several_loads_per_document,
            test_definitions_are_validated_and_need_db_admin,
            test_certctl_etl_commands,
        ], a)
        if code:
            b.dump_logs()
    sys.exit(code)


if __name__ == "__main__":
    main()
