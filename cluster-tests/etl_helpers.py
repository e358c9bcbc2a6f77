"""etl_helpers - shared pieces of the ETL tests (test_etl_*.py) and of
bench/bench_etl.py: two clusters linked the way RavenDB's docs set it up,
bulk writes, and waiting on what the destination holds.

The link: A exports its server certificate and B uploads it with
ReadWrite on the destination database; B exports its server certificate
and A uploads it (no rights), which is how A's runner knows it talks to
B. Then an ETL task on A's source database names B's URLs and database.
Standard library and the openssl CLI only.
"""

import json
import queue
import threading
import time
from urllib.parse import quote

from certraft_cluster import wait_until
from lifecycle_helpers import documents_of, expect, upload_body

# RavenDB-style transform of the acceptance test: only public employees,
# without their salary.
PUBLIC_SCRIPT = """
if (this.Public === true) {
    delete this.salary;
    loadTo(this);
}
"""


def export_server(c):
    r = expect(c.admin.request(c.leader().url, "GET", "/admin/certificates/export"), 200,
               "export the server certificate")
    return r.body


def link(a, b, src="hr", dst="public", access="ReadWrite"):
    """Databases on both sides and mutual registration. Returns the
    thumbprint B registered A's certificate under."""
    for c, db in ((a, src), (b, dst)):
        r = c.request_leader("PUT", "/admin/databases", {"DatabaseName": db})
        assert r.status in (201, 409), r
    r = expect(b.request_leader("PUT", "/admin/certificates",
                                upload_body("cluster A", export_server(a), "ValidUser",
                                            {dst: access}, password="")),
               201, "B registers A's server certificate")
    a_thumb = r.json()["Thumbprint"]
    expect(a.request_leader("PUT", "/admin/certificates",
                            upload_body("cluster B", export_server(b), "ValidUser", {},
                                        password="")),
           201, "A registers B's server certificate")
    return a_thumb


def task_body(b, name="to-public", dst="public", script=PUBLIC_SCRIPT, prefixes=None):
    body = {"Name": name, "DestinationUrls": [n.url for n in b.nodes.values()],
            "DestinationDatabase": dst, "Script": script}
    if prefixes is not None:
        body["Prefixes"] = prefixes
    return body


def define(a, b, src="hr", **kw):
    return expect(a.request_leader("PUT", "/databases/%s/admin/etl" % src, task_body(b, **kw)),
                  201, "define the ETL task")


def employee(i):
    return {"Name": "emp %d" % i, "Public": i % 3 != 0, "salary": 1000 + i,
            "Dept": "d%d" % (i % 7)}


def expected_public(docs):
    """What B must hold for PUBLIC_SCRIPT, given A's documents."""
    out = {}
    for k, v in docs.items():
        if v.get("Public") is True:
            v = dict(v)
            v.pop("salary", None)
            out[k] = v
    return out


def write_docs(c, db, docs, threads=8, deadline=120, retry=True):
    """PUT every (id, doc) of the dict through any live node, with a pool
    of threads; retried on 503/connection errors (a leader change) until
    `deadline` seconds. Returns how many writes were retried."""
    work = queue.Queue()
    for item in docs.items():
        work.put(item)
    errors, retries = [], [0]
    end = time.monotonic() + deadline

    def worker(k):
        nodes = c.running_nodes
        while True:
            try:
                doc_id, doc = work.get_nowait()
            except queue.Empty:
                return
            i = k
            while True:
                live = nodes()
                n = live[i % len(live)]
                i += 1
                try:
                    r = c.admin.request(n.url, "PUT", "/databases/%s/docs?id=%s" % (
                        db, quote(doc_id, safe="")), doc)
                    if r.status == 201:
                        break
                    err = r
                except OSError as exc:
                    err = exc
                if not retry or time.monotonic() > end:
                    errors.append((doc_id, err))
                    break
                retries[0] += 1
                time.sleep(0.05)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, "writes failed: %r" % errors[:5]
    return retries[0]


def docs_on(c, db, node=None):
    return documents_of(c.admin, (node or c.leader()).url, db)


def status(a, name="to-public", src="hr"):
    r = expect(a.request_leader("GET", "/databases/%s/admin/etl/status?name=%s" % (src, name)),
               200, "ETL status")
    return r.json()


def wait_caught_up(a, name="to-public", src="hr", timeout=60):
    def done():
        s = status(a, name, src)
        return s if s["LagEntries"] == 0 and s["State"] == "CaughtUp" else None
    return wait_until("task %s to catch up" % name, done, timeout=timeout, interval=0.2)


def wait_docs(b, db, want, timeout=60):
    """Until B's db holds exactly `want`; returns what it holds."""
    last = [None]

    def same():
        last[0] = docs_on(b, db)
        return last[0] == want
    try:
        wait_until("B's %s to hold the %d expected documents" % (db, len(want)), same,
                   timeout=timeout, interval=0.3)
    except AssertionError:
        got = last[0] or {}
        missing = sorted(set(want) - set(got))[:5]
        extra = sorted(set(got) - set(want))[:5]
        wrong = sorted(k for k in set(want) & set(got) if want[k] != got[k])[:5]
        raise AssertionError("B holds %d documents, want %d; missing %r extra %r wrong %r" % (
            len(got), len(want), missing, extra, wrong))
    return last[0]


def no_salary_anywhere(docs):
    text = json.dumps(docs)
    assert "salary" not in text, "a salary crossed the link"
